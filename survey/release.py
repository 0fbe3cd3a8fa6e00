"""Releasing a sample's batches together with its hand-off to the collection modes.

The one module that knows the design and both collection modes: ``survey.design`` draws and
releases and calls what :data:`FIELDING` hands it (``survey.design.service.Fielding``); web
collection (``survey.collection``) and CATI (``survey.cati``) read the design's tables. So the
dependencies point one way — collection and CATI on the design, never back. The web page, the
CLI (``survey sample release``) and the demo release through :func:`release_batches`.
"""

from __future__ import annotations

from survey.cati.cases import add_cases_from_sample, reweigh_cases
from survey.collection.invitations import invite_sample, reweigh_invitations
from survey.design import service
from survey.design.service import Fielding, ReleaseResult

FIELDING = Fielding(
    hand_off={"web": invite_sample, "phone": add_cases_from_sample},
    # A web sample's elements may also have cases (mixed mode), so every copy is reweighed.
    reweigh=(reweigh_invitations, reweigh_cases),
)


async def release_batches(
    sample_id: int, batches: int | None = None, *, username: str = ""
) -> ReleaseResult:
    """Release batches 1…``batches`` of the sample (default: the next one) and hand the
    released elements to their mode: web invitations or CATI cases (see
    ``survey.design.service.release_batches``)."""
    return await service.release_batches(sample_id, batches, fielding=FIELDING, username=username)
