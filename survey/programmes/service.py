"""Programmes (测评方案) and their policy versions: the only writer of ``programme`` and
``policy_version``.

* A programme has a code, a name, a region (a district, or a city with its districts), the
  instrument residents answer on the web and the one pollsters read on the telephone, and a
  ranking policy (测评结果运用办法).
* Each policy given to a programme is stored whole (TOML text, hash, the file's id and version)
  as the programme's next ``PolicyVersion`` (1, 2, …). The latest is the programme's current
  policy. Like questionnaires, a policy's content may not change under the same id and version:
  a changed file must raise ``version``.
* A wave is computed with the programme's current policy; the computation records the policy's
  id, version and hash (``ResultRun``). A published wave is recomputed (a revision) with the
  version it was computed with, so changing the policy never changes what was published.
* Instruments: the web one must be written for self-completion (``"web"`` in its modes), the
  phone one for interviews; both must define their shared indices identically
  (``questionnaires.scoring.pooling_conflicts``), so that their answers pool into one index.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from questionnaires import Instrument, default_instruments
from questionnaires.scoring import pooling_conflicts
from survey.audit import record
from survey.db import lock_row, write_transaction
from survey.db.tables import Department, PolicyVersion, Programme, Station, Unit, Wave
from survey.ranking.policy import (
    KnownCodes,
    Policy,
    PolicyError,
    build_policy,
    default_policy_path,
    installation_policies,
)

MODE_NAMES: dict[str, str] = {"web": "网页自填", "phone": "电话访问"}
#: The shipped instrument of each mode (the combined 两率一度 questionnaire, two wordings).
DEFAULT_INSTRUMENTS: dict[str, str] = {"web": "liangshuaiyidu_web", "phone": "liangshuaiyidu"}
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MAX_POLICY_BYTES = 200_000


class ProgrammeError(Exception):
    """A programme could not be created or changed; the message says why (Chinese) and
    ``problems`` lists every problem of a rejected policy file (``文件:行: 规则: 说明``)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems or [])


@dataclass(frozen=True, slots=True)
class PolicyVersionInfo:
    """One stored policy version of a programme."""

    number: int
    policy_id: str
    version: int
    title: str
    content_hash: str
    source_name: str
    created_by: str
    created_at: dt.datetime | None

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]

    def describe(self) -> str:
        return (
            f"第 {self.number} 版：{self.title}（{self.policy_id} v{self.version}，"
            f"内容 {self.short_hash}）"
        )


@dataclass(frozen=True, slots=True)
class ProgrammeInfo:
    """A programme as pages and the CLI show it."""

    id: int
    code: str
    name: str
    region_code: str
    region_name: str
    region_id: int
    web_instrument: str
    phone_instrument: str
    policy: PolicyVersionInfo | None
    # The id of the rules in force: the current version's, or for a programme made before
    # policies were stored (no version yet) the installation file named by ``Programme.policy``.
    policy_id: str = ""


@dataclass(frozen=True, slots=True)
class WavePolicy:
    """A wave of a programme with the policy its results were computed with ('' if none, or
    not yet looked up: ``survey.results.policies.with_computed_policies`` fills them in)."""

    month: str
    status: str
    policy_id: str
    policy_version: int
    policy_hash: str
    wave_id: int = 0


@dataclass(frozen=True, slots=True)
class ProgrammeDetail:
    info: ProgrammeInfo
    versions: tuple[PolicyVersionInfo, ...]
    waves: tuple[WavePolicy, ...]


# ---------------------------------------------------------------------------------------------
# Instruments per mode


def instrument_choices(mode: str) -> list[Instrument]:
    """The installation's instruments usable in ``mode`` (``web`` or ``phone``)."""
    return [i for i in default_instruments().values() if mode in i.modes]


def instrument_for_mode(instrument_id: str, mode: str) -> Instrument:
    """The instrument ``instrument_id`` if it exists and is written for ``mode``; otherwise
    ``ProgrammeError`` saying why and which instruments fit (a telephone script must never be
    served to a resident filling in a web page)."""
    known = default_instruments()
    usable = "、".join(f"{i.id}（{i.title}）" for i in known.values() if mode in i.modes)
    instrument = known.get(instrument_id)
    if instrument is None:
        raise ProgrammeError(
            f"问卷「{instrument_id}」不存在；可用于{MODE_NAMES[mode]}的问卷: {usable}"
        )
    if mode not in instrument.modes:
        written = "、".join(MODE_NAMES.get(m, m) for m in instrument.modes)
        raise ProgrammeError(
            f"问卷「{instrument.title}」（{instrument.id}）是为{written}编写的，不能用于"
            f"{MODE_NAMES[mode]}；请选择: {usable}"
        )
    return instrument


def check_instruments(web_id: str, phone_id: str) -> tuple[Instrument, Instrument]:
    """Both instruments fit their mode and define their shared indices identically."""
    web = instrument_for_mode(web_id, "web")
    phone = instrument_for_mode(phone_id, "phone")
    conflicts = pooling_conflicts(web, phone)
    if conflicts:
        raise ProgrammeError(
            f"网页问卷 {web.id} 与电话问卷 {phone.id} 的指标 {'、'.join(conflicts)} 定义不同"
            "（计分题目、选项代码、分值或不知道处理规则不一致），两种方式的回答无法合并计算；"
            "请选择指标定义相同的两份问卷"
        )
    return web, phone


async def instrument_of_wave(wave_id: int, mode: str) -> str:
    """The instrument the programme of wave ``wave_id`` uses for ``mode`` (the shipped default
    when the programme names none)."""
    row = (
        await Wave.select(
            Wave.programme.web_instrument.as_alias("web"),
            Wave.programme.phone_instrument.as_alias("phone"),
        )
        .where(Wave.id == wave_id)
        .first()
    )
    if row is None:
        raise ProgrammeError(f"测评期 {wave_id} 不存在")
    return str(row[mode] or "") or DEFAULT_INSTRUMENTS[mode]


# ---------------------------------------------------------------------------------------------
# Policies


def read_policy_source(reference: str | None) -> tuple[str, str]:
    """The text and name of a policy given on the command line: a file path, the id of one of
    the installation's policies (shipped or ``PINGAN_POLICIES``), or None for the shipped
    default policy."""
    if reference is None:
        path = default_policy_path()
    else:
        path = Path(reference)
        if not path.is_file():
            try:
                offered = installation_policies()
            except PolicyError as exc:
                raise ProgrammeError(
                    "本系统的办法文件有问题", [str(p) for p in exc.problems]
                ) from exc
            if reference not in offered:
                raise ProgrammeError(
                    f"办法文件「{reference}」不存在；可写文件路径或本系统的办法 id: "
                    + "、".join(offered)
                )
            path = offered[reference][1]
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgrammeError(f"{path}: 无法读取（应为 UTF-8 的 TOML 文件）: {exc}") from exc


async def known_threshold_codes(region_id: int | None) -> KnownCodes:
    """For each index of the installation's instruments, the codes a policy's ``thresholds``
    may name: department codes (plain, and ``<district>/<department>``) for department indices,
    station / street / district codes for the others. Registry units of ``region_id`` (all
    regions when None); for departments, the instruments' default departments when the registry
    has none. Levels without any known unit are not checked."""
    district_ids: list[int] = []
    if region_id is not None:
        region = await Unit.select(Unit.id, Unit.level).where(Unit.id == region_id).first()
        if region is not None and region["level"] == "district":
            district_ids = [region_id]
        else:
            district_ids = [
                r["id"]
                for r in await Unit.select(Unit.id).where(
                    (Unit.parent == region_id) & (Unit.level == "district")
                )
            ]
    by_level: dict[str, set[str]] = {"station": set(), "street": set(), "district": set()}
    departments: set[str] = set()
    if region_id is not None:
        where_district = Unit.id.is_in(district_ids or [-1])
        by_level["district"] = {
            r["code"] for r in await Unit.select(Unit.code).where(where_district)
        }
        by_level["street"] = {
            r["code"]
            for r in await Unit.select(Unit.code).where(
                (Unit.level == "street") & Unit.parent.is_in(district_ids or [-1])
            )
        }
        by_level["station"] = {
            r["code"]
            for r in await Station.select(Station.code).where(
                Station.district.is_in(district_ids or [-1])
            )
        }
        for r in await Department.select(Department.code, Department.district.code).where(
            Department.district.is_in(district_ids or [-1])
        ):
            departments |= {r["code"], f"{r['district.code']}/{r['code']}"}
    known: dict[str, frozenset[str]] = {}
    for instrument in default_instruments().values():
        defaults = {d.code for d in instrument.departments}
        for index in instrument.indices:
            if index.unit_level == "department":
                codes = departments or defaults
            else:
                codes = by_level[index.unit_level]
            if codes:
                known[index.id] = frozenset(known.get(index.id, frozenset()) | codes)
    # For indices a policy ranks at another level than their definition's (``level = …``).
    for level, level_codes in (*by_level.items(), ("department", departments)):
        if level_codes:
            known[f"@{level}"] = frozenset(level_codes)
    return known


async def check_policy(text: str, name: str, region_id: int | None) -> Policy:
    """Every problem ``survey policy check`` reports for ``text``, plus ``thresholds`` keys that
    name no unit of the region: ``PolicyError`` listing them all, else the policy."""
    return build_policy(text, name, await known_threshold_codes(region_id))


def _problems(exc: PolicyError) -> ProgrammeError:
    return ProgrammeError(
        f"办法文件有 {len(exc.problems)} 个问题，未保存", [str(p) for p in exc.problems]
    )


def _version_info(row: dict[str, Any]) -> PolicyVersionInfo:
    return PolicyVersionInfo(
        number=int(row["number"]),
        policy_id=str(row["policy_id"]),
        version=int(row["version"]),
        title=str(row["title"]),
        content_hash=str(row["content_hash"]),
        source_name=str(row["source_name"]),
        created_by=str(row["created_by"]),
        created_at=row.get("created_at"),
    )


_VERSION_COLUMNS = (
    PolicyVersion.number,
    PolicyVersion.policy_id,
    PolicyVersion.version,
    PolicyVersion.title,
    PolicyVersion.content_hash,
    PolicyVersion.source_name,
    PolicyVersion.created_by,
    PolicyVersion.created_at,
)


async def _store_policy(
    programme_id: int, policy: Policy, *, username: str
) -> tuple[PolicyVersionInfo, bool]:
    """Inside a write transaction holding the programme row: append ``policy`` as the next
    version unless it is already the current one. Returns (the current version, changed)."""
    rows = await PolicyVersion.select(*_VERSION_COLUMNS).where(
        PolicyVersion.programme == programme_id
    )
    versions = sorted((_version_info(r) for r in rows), key=lambda v: v.number)
    if versions and versions[-1].content_hash == policy.content_hash:
        return versions[-1], False
    for earlier in versions:
        if (
            earlier.policy_id == policy.id
            and earlier.version == policy.version
            and earlier.content_hash != policy.content_hash
        ):
            raise ProgrammeError(
                f"办法 {policy.id} 第 {policy.version} 版的内容与本方案第 {earlier.number} 版"
                f"（{earlier.short_hash}）不同：已用过的办法版本不能修改，请在文件中提高 version"
            )
    number = versions[-1].number + 1 if versions else 1
    await PolicyVersion.insert(
        PolicyVersion(
            programme=programme_id,
            number=number,
            policy_id=policy.id,
            version=policy.version,
            title=policy.title,
            content_hash=policy.content_hash,
            source_name=Path(policy.source_name).name[:200],
            content=policy.source_text,
            created_by=username,
        )
    )
    await Programme.update({Programme.policy: policy.id}).where(Programme.id == programme_id)
    info = PolicyVersionInfo(
        number,
        policy.id,
        policy.version,
        policy.title,
        policy.content_hash,
        Path(policy.source_name).name,
        username,
        None,
    )
    return info, True


async def _programme_row(code: str, limit_to_district: int | None) -> dict[str, Any]:
    row = (
        await Programme.select(Programme.id, Programme.region).where(Programme.code == code).first()
    )
    if row is None or (limit_to_district is not None and row["region"] != limit_to_district):
        raise ProgrammeError(f"没有测评方案「{code}」，或您无权管理")
    return row


async def create_programme(
    code: str,
    name: str,
    region_code: str,
    *,
    policy_text: str,
    policy_name: str,
    web_instrument: str | None = None,
    phone_instrument: str | None = None,
    username: str = "",
    limit_to_district: int | None = None,
) -> int:
    """Create programme ``code`` for the region ``region_code`` (a district or a city) with the
    given policy text as its policy version 1. ``ProgrammeError`` names every problem; nothing is
    stored then. ``limit_to_district``: a district-limited admin may only create programmes of
    that district."""
    code = code.strip()
    name = name.strip()
    if not _CODE.match(code):
        raise ProgrammeError(
            f"方案代码「{code}」无效：用小写字母、数字和连字符，最长 40 位，如 beicheng-lsyd"
        )
    if not name or len(name) > 200:
        raise ProgrammeError("请填写方案名称（最长 200 字），如 北城区两率一度月度测评")
    web, phone = check_instruments(
        web_instrument or DEFAULT_INSTRUMENTS["web"],
        phone_instrument or DEFAULT_INSTRUMENTS["phone"],
    )
    region = (
        await Unit.select(Unit.id, Unit.level, Unit.name).where(Unit.code == region_code).first()
    )
    if region is None or region["level"] not in ("district", "city"):
        raise ProgrammeError(
            f"区域「{region_code}」不是区划登记表中的区/县或市；请先导入区划（survey import-units）"
        )
    if limit_to_district is not None and region["id"] != limit_to_district:
        raise ProgrammeError("您只能为本人所在的区/县创建测评方案")
    try:
        policy = await check_policy(policy_text, policy_name, region["id"])
    except PolicyError as exc:
        raise _problems(exc) from exc
    async with write_transaction():
        if await Programme.exists().where(Programme.code == code):
            raise ProgrammeError(f"测评方案「{code}」已存在")
        rows = await Programme.insert(
            Programme(
                code=code,
                name=name,
                region=region["id"],
                instruments=json.dumps([web.id, phone.id]),
                policy=policy.id,
                web_instrument=web.id,
                phone_instrument=phone.id,
            )
        ).returning(Programme.id)
        programme_id = int(rows[0]["id"])
        await _store_policy(programme_id, policy, username=username)
        await record(
            username,
            "programme.create",
            f"{code} region={region_code} web={web.id} phone={phone.id} "
            f"policy={policy.id} v{policy.version} {policy.short_hash}",
        )
    return programme_id


async def set_policy(
    code: str,
    policy_text: str,
    policy_name: str,
    *,
    username: str = "",
    limit_to_district: int | None = None,
) -> tuple[PolicyVersionInfo, bool]:
    """Give programme ``code`` a new policy (checked like ``create_programme``). Returns the
    programme's current version and whether it changed (the same content again changes
    nothing). Waves already computed keep the version they were computed with."""
    row = await _programme_row(code, limit_to_district)
    try:
        policy = await check_policy(policy_text, policy_name, row["region"])
    except PolicyError as exc:
        raise _problems(exc) from exc
    async with write_transaction():
        await lock_row(Programme, row["id"])  # two uploads at once: numbered one after the other
        info, changed = await _store_policy(row["id"], policy, username=username)
        if changed:
            await record(
                username,
                "programme.policy",
                f"{code} 第{info.number}版 {policy.id} v{policy.version} {policy.short_hash}",
            )
    return info, changed


async def update_programme(
    code: str,
    *,
    name: str | None = None,
    web_instrument: str | None = None,
    phone_instrument: str | None = None,
    username: str = "",
    limit_to_district: int | None = None,
) -> None:
    """Change a programme's name and/or instruments (checked like ``create_programme``). Waves
    keep the answers they have; new invitations and telephone campaigns use the new
    instruments."""
    row = await _programme_row(code, limit_to_district)
    current = await Programme.select(
        Programme.name, Programme.web_instrument, Programme.phone_instrument
    ).where(Programme.id == row["id"])
    new_name = current[0]["name"] if name is None else name.strip()
    if not new_name or len(new_name) > 200:
        raise ProgrammeError("请填写方案名称（最长 200 字）")
    web, phone = check_instruments(
        web_instrument or current[0]["web_instrument"] or DEFAULT_INSTRUMENTS["web"],
        phone_instrument or current[0]["phone_instrument"] or DEFAULT_INSTRUMENTS["phone"],
    )
    async with write_transaction():
        await Programme.update(
            {
                Programme.name: new_name,
                Programme.web_instrument: web.id,
                Programme.phone_instrument: phone.id,
                Programme.instruments: json.dumps([web.id, phone.id]),
            }
        ).where(Programme.id == row["id"])
        await record(username, "programme.edit", f"{code} web={web.id} phone={phone.id}")


async def _current_versions(programme_ids: list[int]) -> dict[int, PolicyVersionInfo]:
    rows = await PolicyVersion.select(PolicyVersion.programme, *_VERSION_COLUMNS).where(
        PolicyVersion.programme.is_in(programme_ids or [-1])
    )
    out: dict[int, PolicyVersionInfo] = {}
    for r in rows:
        info = _version_info(r)
        if r["programme"] not in out or out[r["programme"]].number < info.number:
            out[r["programme"]] = info
    return out


async def list_programmes(limit_to_district: int | None = None) -> list[ProgrammeInfo]:
    """Every programme (of one district for a district-limited user), by code."""
    query = Programme.select(
        Programme.id,
        Programme.code,
        Programme.name,
        Programme.region,
        Programme.region.code,
        Programme.region.name,
        Programme.web_instrument,
        Programme.phone_instrument,
        Programme.policy,
    ).order_by(Programme.code)
    if limit_to_district is not None:
        query = query.where(Programme.region == limit_to_district)
    rows = await query
    current = await _current_versions([r["id"] for r in rows])
    return [
        ProgrammeInfo(
            id=r["id"],
            code=r["code"],
            name=r["name"],
            region_code=r["region.code"],
            region_name=r["region.name"],
            region_id=r["region"],
            web_instrument=r["web_instrument"] or DEFAULT_INSTRUMENTS["web"],
            phone_instrument=r["phone_instrument"] or DEFAULT_INSTRUMENTS["phone"],
            policy=current.get(r["id"]),
            policy_id=(
                current[r["id"]].policy_id if r["id"] in current else str(r["policy"] or "default")
            ),
        )
        for r in rows
    ]


async def programme_detail(code: str, limit_to_district: int | None = None) -> ProgrammeDetail:
    """A programme with every policy version and its waves (the policy each wave was computed
    with comes from the results: ``survey.results.policies.with_computed_policies``)."""
    row = await _programme_row(code, limit_to_district)
    info = next(p for p in await list_programmes() if p.id == row["id"])
    versions = sorted(
        (
            _version_info(r)
            for r in await PolicyVersion.select(*_VERSION_COLUMNS).where(
                PolicyVersion.programme == row["id"]
            )
        ),
        key=lambda v: v.number,
    )
    waves = await Wave.select(Wave.id, Wave.month, Wave.status).where(Wave.programme == row["id"])
    wave_policies = tuple(
        WavePolicy(w["month"], w["status"], "", 0, "", wave_id=int(w["id"]))
        for w in sorted(waves, key=lambda w: w["month"])
    )
    return ProgrammeDetail(info, tuple(versions), wave_policies)


async def policy_text(code: str, number: int, limit_to_district: int | None = None) -> str:
    """The stored file of version ``number`` of programme ``code``."""
    row = await _programme_row(code, limit_to_district)
    found = (
        await PolicyVersion.select(PolicyVersion.content)
        .where((PolicyVersion.programme == row["id"]) & (PolicyVersion.number == number))
        .first()
    )
    if found is None:
        raise ProgrammeError(f"测评方案「{code}」没有第 {number} 版办法")
    return str(found["content"])


async def policy_for_wave(
    programme_id: int, recorded_hash: str | None = None, *, adopt: bool = True
) -> Policy:
    """The policy a computation of a wave of ``programme_id`` applies: the stored version whose
    hash is ``recorded_hash`` (a published wave's revision keeps its rules), else the
    programme's current one. A programme made before policies were stored (no version yet)
    gets the installation's file named by ``Programme.policy``, stored as its version 1 unless
    ``adopt`` is false (readers that only show results store nothing)."""
    query = PolicyVersion.select(
        PolicyVersion.number, PolicyVersion.content, PolicyVersion.source_name
    ).where(PolicyVersion.programme == programme_id)
    if recorded_hash:
        query = query.where(PolicyVersion.content_hash == recorded_hash)
    rows = sorted(await query, key=lambda r: r["number"])
    if not rows and recorded_hash:
        return await policy_for_wave(programme_id, adopt=adopt)
    if not rows:
        return await _adopt_policy_file(programme_id, store=adopt)
    latest = rows[-1]
    return build_policy(str(latest["content"]), str(latest["source_name"]) or "policy.toml")


async def _adopt_policy_file(programme_id: int, *, store: bool = True) -> Policy:
    programme = await Programme.select(Programme.policy).where(Programme.id == programme_id).first()
    if programme is None:
        raise ProgrammeError(f"测评方案 {programme_id} 不存在")
    try:
        offered = installation_policies()
    except PolicyError as exc:
        raise _problems(exc) from exc
    name = str(programme["policy"] or "default")
    if name not in offered:
        raise ProgrammeError(f"测评方案使用的办法「{name}」不存在；可用: {'、'.join(offered)}")
    policy = offered[name][0]
    if not store:
        return policy
    async with write_transaction():
        await lock_row(Programme, programme_id)
        await _store_policy(programme_id, policy, username="system")
    return policy


__all__ = [
    "DEFAULT_INSTRUMENTS",
    "MODE_NAMES",
    "PolicyVersionInfo",
    "ProgrammeDetail",
    "ProgrammeError",
    "ProgrammeInfo",
    "check_instruments",
    "check_policy",
    "create_programme",
    "instrument_choices",
    "instrument_for_mode",
    "instrument_of_wave",
    "known_threshold_codes",
    "list_programmes",
    "policy_for_wave",
    "policy_text",
    "programme_detail",
    "read_policy_source",
    "set_policy",
    "update_programme",
]
