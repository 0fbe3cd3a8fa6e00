"""ASGI entry point: ``uvicorn survey.web.asgi:app``."""

from survey.web.app import create_app

app = create_app()
