"""Piccolo app: personal API tokens (one row per token, the secret stored only as a hash)."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="tokens",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["survey.tokens.tables"], exclude_imported=True),
    migration_dependencies=["survey.piccolo_app"],
    commands=[],
)
