"""Frame fingerprint (documented encoding) and the package's purity (no web, ORM, templates)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from sampling import frame_fingerprint


def test_fingerprint_is_the_documented_encoding() -> None:
    expected = hashlib.sha256(
        b"pingan-frame-v1\n"
        + b"2|2:id5:phone\n"
        + b"2|1:1"
        + b"11:13800138000\n"
        + b"2|1:2"
        + b"6:"
        + "张三".encode()
        + b"\n"
    ).hexdigest()
    assert frame_fingerprint(["id", "phone"], [["1", "13800138000"], ["2", "张三"]]) == expected


def test_fingerprint_sees_every_change() -> None:
    base = frame_fingerprint(["a", "b"], [["1", "x"], ["2", "y"]])
    assert base == frame_fingerprint(["a", "b"], iter([["1", "x"], ["2", "y"]]))
    assert base != frame_fingerprint(["a", "b"], [["2", "y"], ["1", "x"]])  # row order
    assert base != frame_fingerprint(["a", "b"], [["1", "x"], ["2", "y "]])  # one character
    assert frame_fingerprint(["h"], [["ab", "c"]]) != frame_fingerprint(["h"], [["a", "bc"]])
    assert frame_fingerprint(["h"], [["a"], []]) != frame_fingerprint(["h"], [["a"]])


def test_sampling_imports_no_web_orm_or_templates() -> None:
    code = (
        "import sys, sampling\n"
        "bad = [m for m in ('litestar', 'piccolo', 'jinja2', 'pandas', 'survey') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
