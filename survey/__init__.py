"""平安测评 — the survey platform (web, services, database layer, estimation and ranking cores)."""

import os

# Piccolo finds its configuration through this module path; set before any table is used.
os.environ.setdefault("PICCOLO_CONF", "survey.piccolo_conf")

__version__ = "0.1.0"
