"""Piccolo configuration: the engine comes from the platform settings (PINGAN_DATABASE_URL)."""

from piccolo.conf.apps import AppRegistry

from survey.db.engine import engine_for
from survey.settings import get_settings

DB = engine_for(get_settings())

APP_REGISTRY = AppRegistry(
    apps=[
        "survey.piccolo_app",
        "survey.collection.piccolo_app",
        "survey.design.piccolo_app",
        "survey.cati.piccolo_app",
        "survey.results.piccolo_app",
        "survey.tokens.piccolo_app",
    ]
)
