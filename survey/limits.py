"""Counters for rate limits and login lockouts, shared by every worker and host.

``counter_store()`` gives the store of the installation: Redis when ``PINGAN_REDIS_URL`` is set
(:class:`RedisCounters`), else the ``rate_counter`` table (UNLOGGED on PostgreSQL), so that ``survey serve --workers N`` on M hosts keeps every limit at its
configured value instead of N × M times it. Each count is one atomic upsert in a fixed time slot
(``INSERT … ON CONFLICT (key) DO UPDATE``, the same SQL on SQLite ≥ 3.35 and PostgreSQL);
:class:`MemoryCounters` is the in-process store for tests and tools.

Login policy (issue 15, finding 10), in ``survey.accounts.authenticate``:

* ``MAX_FAILED_LOGINS`` (5) wrong passwords for one account *from one address* lock that pair for
  the rest of a 15-minute slot — the attacker's address, not the account: staff signing in
  from their own addresses are not locked out by someone guessing ``admin``.
* Over ``SLOW_AFTER_FAILURES`` (20) failures for one account from all addresses in the slot,
  every further attempt on that account (right or wrong) waits ``SLOW_DOWN_S`` before it is
  checked: a distributed guesser is slowed to a crawl, and the owner still gets in.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from survey.db.tables import RateCounter

MAX_KEYS = 100_000
PRUNE_EVERY = 5_000


class Counters(Protocol):
    """Counts per key in fixed slots of ``window_s`` seconds."""

    async def add(self, key: str, window_s: int) -> int:
        """Count one more for ``key`` in the current slot; returns the new count."""
        ...

    async def get(self, key: str, window_s: int) -> int:
        """The count of ``key`` in the current slot (0 if none)."""
        ...

    async def forget(self, key: str) -> int:
        """Drop the counts of ``key`` and of every key below it (``key:…``), in every slot: an
        administrator's unlock of an account forgets its failures from all addresses. Returns
        the highest count among them (0: nothing to forget)."""
        ...


def _slot(window_s: int, clock: Callable[[], float] = time.time) -> int:
    """The current slot of ``window_s`` named by its end (epoch seconds)."""
    return (int(clock() // window_s) + 1) * window_s


def stored_key(key: str) -> str:
    """``key`` as the ``rate_counter`` table can hold it: keys carry what clients send (a link's
    token, a user name), so one that is long (the column holds 200 characters) or holds a NUL
    (PostgreSQL text cannot) is kept as a prefix and its SHA-256 — still one counter per key."""
    if len(key) <= 120 and "\x00" not in key:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()
    return key[:40].replace("\x00", "") + "#" + digest


def retry_after(window_s: int) -> int:
    """Seconds until the current slot of ``window_s`` ends (at least 1)."""
    return max(1, int(window_s - time.time() % window_s) + 1)


class DatabaseCounters:
    """The ``rate_counter`` table: one row per key, reset when a new slot begins; rows of
    slots that ended over an hour ago are deleted every ``PRUNE_EVERY`` counts."""

    def __init__(self) -> None:
        self._added = 0

    async def add(self, key: str, window_s: int) -> int:
        slot = _slot(window_s)
        rows = await RateCounter.raw(
            "INSERT INTO rate_counter (key, slot, hits) VALUES ({}, {}, 1) "
            "ON CONFLICT (key) DO UPDATE SET "
            "hits = CASE WHEN rate_counter.slot = excluded.slot "
            "THEN rate_counter.hits + 1 ELSE 1 END, slot = excluded.slot "
            "RETURNING hits",
            stored_key(key),
            slot,
        )
        self._added += 1
        if self._added % PRUNE_EVERY == 0:
            await self.prune()
        return int(rows[0]["hits"])

    async def get(self, key: str, window_s: int) -> int:
        row = (
            await RateCounter.select(RateCounter.hits, RateCounter.slot)
            .where(RateCounter.key == stored_key(key))
            .first()
        )
        if row is None or row["slot"] != _slot(window_s):
            return 0
        return int(row["hits"])

    async def forget(self, key: str) -> int:
        # A long key is stored as its first 40 characters and a digest (``stored_key``): compare
        # that much of the prefix (a longer user name sharing it is forgiven too, never locked).
        prefix = (key + ":")[:40]
        gone = await RateCounter.raw(
            "DELETE FROM rate_counter WHERE key = {} OR substr(key, 1, {}) = {} RETURNING hits",
            stored_key(key),
            len(prefix),
            prefix,
        )
        return max((int(r["hits"]) for r in gone), default=0)

    async def prune(self) -> None:
        """Delete the counters whose slot ended over an hour ago."""
        await RateCounter.delete().where(RateCounter.slot < int(time.time()) - 3600)


class MemoryCounters:
    """In-process counters (one worker only), bounded to ``max_keys`` keys (LRU evicted)."""

    def __init__(self, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.time) -> None:
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    def __len__(self) -> int:
        return len(self._counts)

    async def add(self, key: str, window_s: int) -> int:
        slot = _slot(window_s, self._clock)
        entry = self._counts.pop(key, None)
        count = entry[1] + 1 if entry is not None and entry[0] == slot else 1
        self._counts[key] = (slot, count)
        while len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)
        return count

    async def get(self, key: str, window_s: int) -> int:
        entry = self._counts.get(key)
        if entry is None or entry[0] != _slot(window_s, self._clock):
            return 0
        return entry[1]

    async def forget(self, key: str) -> int:
        names = [k for k in self._counts if k == key or k.startswith(key + ":")]
        return max((self._counts.pop(name)[1] for name in names), default=0)


class RedisCounters:
    """Counters in Redis (``PINGAN_REDIS_URL``): ``INCR`` of ``pingan:rate:<key>:<slot>`` with an
    expiry just past the slot, in one transaction — atomic across workers and hosts, no
    pruning needed. (Litestar's ``Store`` interface has get/set but no atomic increment, so the
    counters use the Redis client Litestar's ``RedisStore`` is built on directly.)"""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)

    @staticmethod
    def _name(key: str, window_s: int) -> str:
        return f"pingan:rate:{key}:{_slot(window_s)}"

    async def add(self, key: str, window_s: int) -> int:
        name = self._name(key, window_s)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window_s + 60)
            count, _expiry = await pipe.execute()
        return int(count)

    async def get(self, key: str, window_s: int) -> int:
        value = await self._redis.get(self._name(key, window_s))
        return int(value) if value else 0

    async def forget(self, key: str) -> int:
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in key)
        names = [name async for name in self._redis.scan_iter(match=f"pingan:rate:{escaped}:*")]
        if not names:
            return 0
        counts = await self._redis.mget(names)
        await self._redis.delete(*names)
        return max((int(c) for c in counts if c is not None), default=0)


_DATABASE = DatabaseCounters()
# A Redis client belongs to the event loop it connected on: one per loop (one per worker).
_REDIS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisCounters] = (
    weakref.WeakKeyDictionary()
)


def counter_store() -> Counters:
    """The installation's shared counters: Redis when ``PINGAN_REDIS_URL`` is set, else the
    ``rate_counter`` table of the platform's database."""
    url = os.environ.get("PINGAN_REDIS_URL", "").strip()
    if not url:
        return _DATABASE
    loop = asyncio.get_running_loop()
    store = _REDIS.get(loop)
    if store is None:
        store = _REDIS[loop] = RedisCounters(url)
    return store


# Login policy (see the module docstring).
MAX_FAILED_LOGINS = 5
LOGIN_WINDOW_S = 15 * 60
SLOW_AFTER_FAILURES = 20
SLOW_DOWN_S = 2.0
