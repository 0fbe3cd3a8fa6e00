"""Piccolo tables of the platform. Only ``survey.db`` and the services run queries on them.

Composite unique constraints that Piccolo cannot declare on a column are created by a
hand-written migration (raw ``CREATE UNIQUE INDEX``, valid on SQLite and PostgreSQL).
"""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

# The weighting codes of sex and age group are the instruments' demographic coding (re-exported).
from questionnaires.demographics import AGE_GROUPS as AGE_GROUPS
from questionnaires.demographics import SEXES as SEXES

# Unit levels of the region hierarchy 市 → 区/县 → 街道/乡镇 → 社区/村.
UNIT_LEVELS: tuple[str, ...] = ("city", "district", "street", "community")
ROLES: tuple[str, ...] = ("admin", "analyst", "supervisor", "pollster", "committee")
WAVE_STATUSES: tuple[str, ...] = ("design", "collecting", "closed", "published")


class Unit(Table, tablename="region_unit"):
    """An administrative unit: 市, 区/县, 街道/乡镇 or 社区/村."""

    id = Serial(primary_key=True)

    code = Varchar(length=20, unique=True, index=True)
    name = Varchar(length=100)
    level = Varchar(length=12)
    parent: ForeignKey[Unit] = ForeignKey("self", null=True, on_delete=OnDelete.restrict)


class PopulationCount(Table, tablename="population_count"):
    """Resident population aged 18+ of a unit by sex × age group (weighting margins)."""

    id = Serial(primary_key=True)

    unit = ForeignKey(Unit, null=False, on_delete=OnDelete.cascade)
    sex = Varchar(length=1)
    age_group = Varchar(length=8)
    persons = Integer()


class Station(Table, tablename="police_station"):
    """A 派出所; its area is the set of communities mapped to it."""

    id = Serial(primary_key=True)

    code = Varchar(length=20, unique=True, index=True)
    name = Varchar(length=100)
    district = ForeignKey(Unit, null=False, on_delete=OnDelete.restrict)


class StationCommunity(Table, tablename="station_community"):
    """Maps each community to exactly one station (unique community)."""

    id = Serial(primary_key=True)

    station = ForeignKey(Station, null=False, on_delete=OnDelete.cascade)
    community = ForeignKey(Unit, null=False, unique=True, on_delete=OnDelete.cascade)


class Department(Table, tablename="legal_department"):
    """A 政法部门 of a district (公安分局, 检察院, 法院, 司法局, …)."""

    id = Serial(primary_key=True)

    district = ForeignKey(Unit, null=False, on_delete=OnDelete.restrict)
    code = Varchar(length=20)
    name = Varchar(length=100)
    sort_order = Integer(default=0)


class Programme(Table, tablename="programme"):
    """A 测评方案: which region, which instruments, which policy."""

    id = Serial(primary_key=True)

    code = Varchar(length=40, unique=True)
    name = Varchar(length=200)
    region = ForeignKey(Unit, null=False, on_delete=OnDelete.restrict)
    instruments = Text(default="[]")  # JSON list of instrument ids (web, phone)
    policy = Varchar(length=100, default="default")  # id of the current policy (see PolicyVersion)
    created_at = Timestamptz(default=TimestamptzNow())
    # The instrument residents answer on the web, and the one pollsters read on the telephone.
    web_instrument = Varchar(length=60, default="")
    phone_instrument = Varchar(length=60, default="")


class PolicyVersion(Table, tablename="policy_version"):
    """One version of a programme's ranking policy (测评结果运用办法), with its whole file.

    Versions are numbered 1, 2, … per programme (unique); the latest is the programme's current
    policy. Rows are never changed or deleted, so a computed wave's rules (``ResultRun`` keeps
    the policy id, version and hash) stay readable whatever the programme uses later."""

    id = Serial(primary_key=True)

    programme = ForeignKey(Programme, null=False, on_delete=OnDelete.restrict)
    number = Integer()
    policy_id = Varchar(length=100)
    version = Integer()  # the file's own ``version``
    title = Varchar(length=200)
    content_hash = Varchar(length=64)
    source_name = Varchar(length=200, default="")
    content = Text()
    created_by = Varchar(length=60, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Wave(Table, tablename="wave"):
    """A 测评期 (normally one calendar month) of a programme."""

    id = Serial(primary_key=True)

    programme = ForeignKey(Programme, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM
    status = Varchar(length=12, default="design")
    opens_on = Date(null=True, default=None)
    closes_on = Date(null=True, default=None)


class AppUser(Table, tablename="app_user"):
    """A platform user; ``roles`` is a comma-separated subset of ROLES."""

    id = Serial(primary_key=True)

    username = Varchar(length=60, unique=True, index=True)
    display_name = Varchar(length=100)
    password_hash = Varchar(length=200)
    roles = Varchar(length=100)
    district = ForeignKey(Unit, null=True, on_delete=OnDelete.restrict)
    is_active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    # Set by an administrator's password reset: the user must choose a new password first.
    must_change_password = Boolean(default=False)


class WebSession(Table, tablename="web_session"):
    """Server-side session data, keyed by the random id in the session cookie."""

    id = Serial(primary_key=True)

    key = Varchar(length=100, unique=True, index=True)
    data = Text()
    expires_at = Timestamptz(index=True)


class AuditLog(Table, tablename="audit_log"):
    """Who did what and when: logins, imports, draws, computations, publications, exports."""

    id = Serial(primary_key=True)

    at = Timestamptz(default=TimestamptzNow(), index=True)
    username = Varchar(length=60)
    action = Varchar(length=40)
    detail = Text(default="")


class RateCounter(Table, tablename="rate_counter"):
    """Counters of the rate limits and login lockouts (``survey.limits``), shared by every worker
    and host: one row per key, counting in the fixed time slot ``slot``. UNLOGGED on
    PostgreSQL (a crash may lose counts, never data)."""

    id = Serial(primary_key=True)

    key = Varchar(length=200, unique=True)
    slot = BigInt(default=0)
    hits = Integer(default=0)
