"""Piccolo app: computed wave results (one run per wave, one row per index × unit)."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="results",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["survey.results.tables"], exclude_imported=True),
    migration_dependencies=["survey.piccolo_app", "survey.collection.piccolo_app"],
    commands=[],
)
