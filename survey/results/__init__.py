"""Wave results: weighted indices per unit, rankings with their uncertainty, reports, exports.

Services (database + pure cores): ``compute`` (a wave's indices, weights, rankings and their
evidence, stored as ``IndexResult`` rows), ``importing`` (delivered interview files),
``export`` (results and weighted microdata as JSON/CSV/XLSX), ``charts`` (server-side SVG),
``report`` (the monthly 通报 as HTML and PDF). The web controller is
``survey.web.controllers.results``; the CLI is ``survey.results.cli``.
"""
