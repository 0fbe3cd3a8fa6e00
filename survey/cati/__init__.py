"""Telephone campaigns (CATI): cases, call attempts, the call queue, the pollster console's
services, the supervisor view and AAPOR response rates.

Pure parts (no database, no web): ``outcomes`` (outcome codes as data, ``outcomes.toml``),
``selection`` (calling hours and the order in which cases are handed out), ``rates`` (AAPOR
Standard Definitions rates) and ``metrics`` (projection, outliers, back-check draw). The
database services: ``cases`` (campaigns, ``add_cases_from_sample``, ``add_cases``), ``queue``
(``next_case``: the atomic hand-out), ``attempts`` (``record_outcome``), ``interview`` (the
instrument's screens saved page by page into a phone ``Response``), ``console`` (what the
pollster's pages show), ``supervisor`` (progress, productivity, reserve batches, back-checks)
and ``reporting`` (rates per campaign, stratum and interviewer; ``response_rates_for_wave`` for
the monthly report's method box). ``demo`` builds the demo campaign, ``cli`` the ``survey cati``
commands.
"""
