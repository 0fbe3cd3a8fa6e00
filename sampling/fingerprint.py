"""A stable SHA-256 fingerprint of a frame's content, to check a stored sample against its frame."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

FINGERPRINT_VERSION = "pingan-frame-v1"


def frame_fingerprint(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Hex SHA-256 of the header and the rows, in order, exactly as strings.

    Each field is encoded as its UTF-8 byte length, ``:``, and the bytes, and each row ends with
    a newline, so no choice of field content can make two different frames collide by
    concatenation. Row order counts (selections return row indices), and values are not
    normalised: ``"007"`` and ``"7"`` differ. The version tag changes if the encoding ever does.
    """
    digest = hashlib.sha256()
    digest.update(FINGERPRINT_VERSION.encode() + b"\n")
    for row in _chain(header, rows):
        parts = []
        for field in row:
            if not isinstance(field, str):
                raise TypeError(f"frame fields must be str, got {type(field).__name__}")
            data = field.encode("utf-8")
            parts.append(b"%d:%s" % (len(data), data))
        digest.update(b"%d|" % len(parts) + b"".join(parts) + b"\n")
    return digest.hexdigest()


def _chain(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterable[Sequence[str]]:
    yield header
    yield from rows
