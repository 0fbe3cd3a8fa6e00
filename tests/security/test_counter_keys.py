"""Counter keys carry what clients send (a link's token, a user name): a key with a NUL byte
(PostgreSQL text cannot hold it) or longer than the column still counts, once per distinct key,
instead of turning the request into an error (found by the merged suite: ``/s/%00%ff`` → 400)."""

from __future__ import annotations

import pytest

from survey.limits import DatabaseCounters, stored_key

pytestmark = pytest.mark.anyio


async def test_odd_keys_count_separately_and_fit_the_column(db: None) -> None:
    counters = DatabaseCounters()
    nul, long_a, long_b = "tok:\x00\xff", "fail:" + "长" * 300, "fail:" + "长" * 299 + "短"
    for key in (nul, long_a, long_b):
        assert len(stored_key(key)) <= 200 and "\x00" not in stored_key(key)
    assert [await counters.add(nul, 60) for _ in range(3)] == [1, 2, 3]
    assert await counters.add(long_a, 60) == 1
    assert await counters.add(long_b, 60) == 1  # same prefix, another key
    assert await counters.get(long_a, 60) == 1 and await counters.get(nul, 60) == 3
    assert stored_key("tok:abc") == "tok:abc"  # ordinary keys are kept as they are
