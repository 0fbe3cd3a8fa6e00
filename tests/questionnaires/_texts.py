"""Small instrument texts written inline for tests (pyxform style), built up by concatenation."""

from __future__ import annotations

HEAD = """\
id = "mini"
version = 1
title = "测试问卷"
"""

PAGE1 = """
[[pages]]
id = "p1"
title = "第一页"

[[pages.items]]
id = "q1"
type = "single"
text = "您感觉安全吗？"
options = [
  { code = 1, label = "安全", score = 100 },
  { code = 2, label = "不安全", score = 0 },
  { code = 8, label = "说不清", dont_know = true },
]
"""

MINIMAL = HEAD + PAGE1


def line_of(text: str, fragment: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` line containing ``fragment`` (computed here, not by the loader)."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    return hits[nth]
