"""Telephone campaigns (CATI): cases, call attempts, the call queue, the pollster console's
services, the supervisor view and AAPOR response rates.

Pure parts (no database, no web): ``outcomes`` (outcome codes as data, ``outcomes.toml``),
``selection`` (calling hours and the order in which cases are handed out), ``rates`` (AAPOR
Standard Definitions rates) and ``metrics`` (projection, outliers, back-check draw). The
database services are ``cases``, ``queue``, ``interview``, ``supervisor`` and ``reporting``.
"""
