"""Wave results: weighted indices per unit, rankings with their uncertainty, reports, exports.

Modules (``docs/results.md`` describes the method and the file formats):

- ``statistics`` — pure: weights (scale, rake, trim) and every index per unit over arrays;
- ``compute`` — a wave from the database: responses → scoring → ``statistics`` → the ranking
  core (ranks, P(bottom k), rank intervals, ladder, Fay–Herriot) → stored ``IndexResult`` rows,
  in one locked write transaction; ``resolve_wave`` for CLI wave references. It orchestrates
  ``loading`` (the database reads: registry, the wave's responses column by column, history),
  ``preparation`` (pure: responses → the statistics' input, scoring over answer columns) and
  ``evaluation`` (pure: ranking outcomes and result rows); ``errors`` holds ``ComputeError``;
- ``ranking_adapter`` / ``integrity`` — the uses of ``survey.ranking`` (policy, evidence,
  small-area estimates, integrity flags) in one place each;
- ``importing`` — delivered interview files (CSV/XLSX, TOML column mapping), all rows or none;
- ``queries`` — stored runs and results as records; ``dashboard`` — what the committee
  dashboard and the report show; ``charts`` — server-side lean SVG (text as text, no plotting library);
- ``report`` — the monthly 通报 as HTML and PDF (WeasyPrint); ``export`` — results as
  JSON/CSV/XLSX and weighted microdata as CSV/XLSX/SPSS/Stata (every CSV/XLSX goes through
  ``export.to_csv`` / ``export.to_xlsx``); ``microdata`` — the labelled microdata table of a
  wave; ``scripts`` — the R and Stata scripts that redo the published figures from it;
- ``formats`` — what a download may ask for (report format, export format and table, microdata
  format, labels), checked once for the pages, the command line and the exports;
- ``cli`` (``survey results compute|export``, ``survey report``, ``survey responses import``),
  ``demo`` (three published demo waves); web pages in ``survey.web.controllers.results``.
"""
