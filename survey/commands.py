"""Platform sub-commands: migrate, import-units, create-user, demo, serve."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    import asyncio

    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def cmd_migrate(args: argparse.Namespace) -> int:
    from survey.db.migrate import MigrationFailed, migrate_backwards, migrate_forwards

    try:
        if args.backwards:
            _run(lambda: migrate_backwards(args.backwards, app_name=args.app, quiet=False))
        else:
            _run(lambda: migrate_forwards(quiet=not args.verbose))
    except MigrationFailed as exc:
        from survey.cli_errors import CommandError

        raise CommandError(f"迁移失败: {exc}") from exc
    print("数据库迁移完成。")
    return 0


def cmd_import_units(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.registry.service import import_registry_file
    from survey.tabular import ImportRejected

    async def go() -> str:
        await migrate_forwards()
        summary = await import_registry_file(args.file, username=os.environ.get("USER", "cli"))
        return summary.describe()

    try:
        print(f"导入完成。{_run(go)}")
    except ImportRejected as exc:
        raise CommandError(str(exc)) from exc
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    import getpass

    from survey.accounts import AccountError, create_user, parse_roles
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards

    password = args.password or os.environ.get("PINGAN_NEW_PASSWORD") or ""
    if not password:
        password = getpass.getpass("密码: ")

    async def go() -> None:
        await migrate_forwards()
        await create_user(
            args.username, password, parse_roles(args.roles), args.name or "", args.district
        )

    try:
        _run(go)
    except AccountError as exc:
        raise CommandError(str(exc)) from exc
    print(f"已创建用户 {args.username}。")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """``survey user list|edit|disable|enable|reset-password`` (the shell is unrestricted)."""
    from survey import accounts
    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards

    actor = os.environ.get("USER", "cli")

    async def go() -> list[str]:
        await migrate_forwards()
        action = args.user_action
        if action == "list":
            lines = []
            for u in await accounts.list_users():
                state = "启用" if u.is_active else "已停用"
                if u.must_change_password:
                    state += "（须改密码）"
                lines.append(
                    f"{u.username}\t{u.display_name}\t{u.role_names}\t"
                    f"{u.district_name or '全部区县'}\t{state}"
                )
            return lines or ["（没有用户）"]
        if action == "edit":
            if args.roles is None and args.district is None and args.name is None:
                raise CommandError("请至少给出 --roles、--district 或 --name 之一")
            user = await accounts.update_user(
                args.username,
                roles=accounts.parse_roles(args.roles) if args.roles is not None else None,
                district_code=None if args.district in (None, "", "all") else args.district,
                change_district=args.district is not None,
                display_name=args.name,
                actor=actor,
            )
            return [
                f"已更新用户 {user.username}: {user.role_names}，"
                f"{user.district_name or '全部区县'}，{user.display_name}"
            ]
        if action in ("disable", "enable"):
            await accounts.set_active(args.username, action == "enable", actor=actor)
            if action == "enable":
                return [f"已启用用户 {args.username}，并解除其登录失败锁定（如有）。"]
            return [f"已停用用户 {args.username}。"]
        password = args.password or accounts.temporary_password()
        await accounts.reset_password(args.username, password, actor=actor)
        shown = "" if args.password else f"临时密码: {password}\n"
        return [
            f"{shown}已重设用户 {args.username} 的密码（并解除登录失败锁定）；"
            "该用户下次登录时须设置新密码。"
        ]

    try:
        print("\n".join(_run(go)))
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from survey.db.migrate import migrate_forwards
    from survey.demo import DEMO_PASSWORD, DEMO_USERS, build_demo

    async def go() -> Any:
        await migrate_forwards()
        return await build_demo(seed=args.seed, base_url=args.base_url)

    report = _run(go)
    print(f"示范城市已就绪（{report.registry.describe()}）。")
    print("演示账号（密码均为 " + DEMO_PASSWORD + "）:")
    for user in DEMO_USERS:
        print(f"  {user.username:<11} {'、'.join(sorted(user.roles))}  {user.display_name}")
    for line in report.notes:
        print(line)
    return 0


def check_instruments() -> None:
    """Load every questionnaire (shipped and ``PINGAN_QUESTIONNAIRES``) and policy file (shipped
    and ``PINGAN_POLICIES``) of the installation now, so that a bad file stops the start with all
    its problems instead of failing a resident's page or an administrator's choice later."""
    from questionnaires import InstrumentError, default_instruments
    from survey.cli_errors import CommandError

    try:
        default_instruments()
    except InstrumentError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise CommandError(f"问卷文件有 {len(exc.problems)} 个问题（见上），服务未启动") from exc
    from survey.ranking.policy import PolicyError, installation_policies

    try:
        installation_policies()
    except PolicyError as exc:
        for policy_problem in exc.problems:
            print(policy_problem, file=sys.stderr)
        raise CommandError(
            f"办法文件（PINGAN_POLICIES）有 {len(exc.problems)} 个问题（见上），服务未启动"
        ) from exc


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from survey.settings import get_settings

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    check_instruments()
    print(f"平安测评已启动: http://{host}:{port}/  （数据库: {settings.database_url}）", flush=True)
    if args.server == "granian":
        # HTTP parsing and connection handling in Rust; how it compares with uvicorn on the
        # final submit: docs/benchmarks.md (submit).
        from granian import Granian
        from granian.constants import Interfaces, Loops

        Granian(
            "survey.web.asgi:app",
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=args.workers,
            loop=Loops.uvloop,
            log_access=False,
            # granian reads no forwarded headers: the client is the peer, unless the app
            # believes a trusted proxy (survey.web.app.asgi_app).
        ).serve()
        return 0
    uvicorn.run(
        "survey.web.asgi:app",
        host=host,
        port=port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        # Forwarded headers are believed only from PINGAN_TRUSTED_PROXIES, by the app itself
        # (survey.web.app.asgi_app); uvicorn's default would trust them from 127.0.0.1.
        proxy_headers=False,
    )
    return 0


def cmd_wave(args: argparse.Namespace) -> int:
    import datetime as dt

    from survey.cli_errors import CommandError
    from survey.db.migrate import migrate_forwards
    from survey.results.publishing import set_status
    from survey.waves import STATUS_NAMES, WaveError, create_wave, resolve_wave

    user = os.environ.get("USER", "cli")

    def date(text: str | None, option: str) -> dt.date | None:
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise CommandError(f"{option} “{text}” 不是日期（应为 YYYY-MM-DD）") from exc

    async def go() -> str:
        await migrate_forwards()
        if args.wave_action == "create":
            wave_id = await create_wave(
                args.programme,
                args.month,
                opens_on=date(args.opens, "--opens"),
                closes_on=date(args.closes, "--closes"),
                username=user,
            )
            return f"已创建测评期 {args.programme}/{args.month}（编号 {wave_id}，状态: 设计）。"
        target = {
            "open": "collecting",
            "close": "closed",
            "reopen": "collecting",
            "publish": "published",
        }[args.wave_action]
        step = await set_status(await resolve_wave(args.wave), target, username=user)
        if step.revision is not None:
            return f"测评期 {step.month}: 已发布更正版本 第 {step.revision} 版"
        return f"测评期 {step.month}: {STATUS_NAMES[step.old_status]} → {STATUS_NAMES[step.new_status]}"

    try:
        print(_run(go))
    except WaveError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("migrate", help="运行数据库迁移 (apply database migrations)")
    p.add_argument(
        "--backwards", metavar="MIGRATION_ID", help='撤销迁移直到该 ID（"all" 撤销全部）'
    )
    p.add_argument("--verbose", action="store_true", help="显示每个迁移")
    p.set_defaults(func=cmd_migrate)

    p = subparsers.add_parser("import-units", help="导入区划/派出所/政法部门/人口 (CSV 或 XLSX)")
    p.add_argument("file", help="区划文件路径（.csv 或 .xlsx）")
    p.set_defaults(func=cmd_import_units)

    p = subparsers.add_parser("create-user", help="创建用户")
    p.add_argument("username")
    p.add_argument(
        "--roles",
        required=True,
        help="逗号分隔的角色代码或中文名: admin（系统管理员）,analyst（数据分析员）,"
        "supervisor（督导）,pollster（访问员）,committee（委员会成员）",
    )
    p.add_argument("--name", help="显示姓名")
    p.add_argument("--district", help="限定的区/县编码")
    p.add_argument("--password", help="密码（省略时从 PINGAN_NEW_PASSWORD 或终端读取）")
    p.set_defaults(func=cmd_create_user)

    p = subparsers.add_parser(
        "user",
        help="用户: 列出、修改角色/区县/姓名、停用、启用、重设密码",
        description="停用的用户不能登录（历史记录保留）；修改角色、区县、密码或停用会结束该用户"
        "的所有会话；至少保留一个启用的、不限区县的系统管理员。",
    )
    actions = p.add_subparsers(dest="user_action", metavar="ACTION")
    actions.required = True
    a = actions.add_parser("list", help="列出所有用户")
    a.set_defaults(func=cmd_user)
    a = actions.add_parser("edit", help="修改用户的角色、限定区县或姓名")
    a.add_argument("username")
    a.add_argument("--roles", help="新的角色（代码或中文名，逗号分隔），如 analyst,委员会成员")
    a.add_argument("--district", help="限定的区/县编码；all 或空表示不限区县")
    a.add_argument("--name", help="显示姓名")
    a.set_defaults(func=cmd_user)
    for action, text in (
        ("disable", "停用用户（不能登录，会话结束）"),
        ("enable", "重新启用用户；也解除登录失败锁定"),
    ):
        a = actions.add_parser(action, help=text)
        a.add_argument("username")
        a.set_defaults(func=cmd_user)
    a = actions.add_parser("reset-password", help="重设密码：用户下次登录时须设置新密码")
    a.add_argument("username")
    a.add_argument("--password", help="临时密码（省略时生成并显示一个随机密码）")
    a.set_defaults(func=cmd_user)

    p = subparsers.add_parser("demo", help="生成示范城市（南城区）与演示账号")
    p.add_argument("--seed", type=int, default=20261124, help="随机种子")
    p.add_argument(
        "--base-url", default="http://127.0.0.1:8000", help="演示服务地址（用于打印的链接）"
    )
    p.set_defaults(func=cmd_demo)

    p = subparsers.add_parser(
        "wave",
        help="测评期: 创建、开始采集、结束、重新开放、发布",
        description="测评期的状态依次为 设计 → 采集 → 结束 → 发布；发布前须已计算结果，发布后不能再改变。",
    )
    actions = p.add_subparsers(dest="wave_action", metavar="ACTION")
    actions.required = True
    a = actions.add_parser("create", help="为测评方案创建某月的测评期（状态: 设计）")
    a.add_argument("programme", help="测评方案代码，如 nancheng-lsyd")
    a.add_argument("month", help="月份 YYYY-MM")
    a.add_argument("--opens", help="开始日期 YYYY-MM-DD")
    a.add_argument("--closes", help="结束日期 YYYY-MM-DD")
    a.set_defaults(func=cmd_wave)
    for action, text in (
        ("open", "开始采集（设计 → 采集）"),
        ("close", "结束采集（采集 → 结束）"),
        ("reopen", "重新开放采集（结束 → 采集）"),
        ("publish", "发布结果（结束 → 发布；须已计算结果）；已发布的测评期: 发布待发布的更正版本"),
    ):
        a = actions.add_parser(action, help=text)
        a.add_argument("wave", help="测评期编号、YYYY-MM 或 方案代码/YYYY-MM")
        a.set_defaults(func=cmd_wave)

    p = subparsers.add_parser("serve", help="启动网页服务")
    p.add_argument("--host", help="监听地址（默认 PINGAN_HOST 或 127.0.0.1）")
    p.add_argument("--port", type=int, help="端口（默认 PINGAN_PORT 或 8000）")
    p.add_argument("--workers", type=int, default=1, help="工作进程数")
    p.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default="uvicorn",
        help="HTTP 服务器（默认 uvicorn）",
    )
    p.set_defaults(func=cmd_serve)
