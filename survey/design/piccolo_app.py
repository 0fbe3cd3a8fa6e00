"""Piccolo app: sample design: frames, samples, sampled elements, targets."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="design",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["survey.design.tables"], exclude_imported=True),
    # The design depends on the registry only; collection and CATI point at it (never back).
    migration_dependencies=["survey.piccolo_app"],
    commands=[],
)
