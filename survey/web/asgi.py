"""ASGI entry point: ``survey serve`` (or ``uvicorn survey.web.asgi:app --no-proxy-headers``:
uvicorn's own default trusts ``X-Forwarded-For`` from 127.0.0.1; see ``asgi_app``)."""

from survey.web.app import asgi_app

app = asgi_app()
