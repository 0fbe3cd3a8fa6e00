"""Sample design stored in the platform: frames, drawn samples, sampled elements, stratum targets.

Modules: ``frames`` (import of frames and 号段 lists, whole-file rejection with row/column
problems), ``service`` (plan, draw, release with weights from the released share, hand-off to
invitations or CATI cases, verification), ``queries`` (read models of the pages and commands),
``regions`` (the wave and its region's units), ``cli`` (``survey sample …``), ``demo``.
The statistics come from the pure ``sampling`` package.
"""
