"""``cardcash admin …``: the operator surface from a shell with the service's configuration.

The commands call the same services as ``/admin/graphql`` and are audited the same way, as
``cli:<os user>``. ``health`` shows what this process's own guard sees (a health check of each
bank); the figures of a serving replica are on its ``providerHealth``.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.runtime import Services


def add_parser(sub) -> argparse.ArgumentParser:
    admin = sub.add_parser("admin", help="operator commands (every change is audited)")
    commands = admin.add_subparsers(dest="admin_command", required=True)

    operator = commands.add_parser("operator", help="operator tokens for /admin/graphql")
    op = operator.add_subparsers(dest="operator_command", required=True)
    op.add_parser("create", help="make an operator and print their token once").add_argument(
        "name"
    )
    op.add_parser("revoke", help="revoke an operator's token").add_argument("name")
    op.add_parser("list", help="list operators")

    commands.add_parser("banks", help="every bank on every channel, with its rollout")
    bank = commands.add_parser("bank", help="change a bank's availability or rollout")
    bank.add_argument("code")
    bank.add_argument("channel", type=str.upper, choices=["WECHAT", "ALIPAY"])
    bank.add_argument("--availability", type=str.upper,
                      choices=["LIVE", "PILOT", "ONBOARDING", "SUSPENDED"])
    bank.add_argument("--percent", help="the pilot's share of users, 0-100")
    bank.add_argument("--sandbox-users", choices=["yes", "no"])
    bank.add_argument("--add-user", action="append", default=[], metavar="USER_ID")
    bank.add_argument("--remove-user", action="append", default=[], metavar="USER_ID")
    bank.add_argument("--clear-users", action="store_true", help="empty the allow-list first")

    stuck = commands.add_parser("stuck", help="withdrawals stuck in a non-terminal status")
    stuck.add_argument("--older-than", type=int, default=900, metavar="SECONDS")
    commands.add_parser("sync", help="ask the bank about one withdrawal now").add_argument(
        "withdrawal_id"
    )
    commands.add_parser("withdrawal", help="a withdrawal and its history").add_argument(
        "id_or_reference"
    )
    commands.add_parser(
        "evidence", help="a withdrawal's evidence of consent and booking, as JSON (audited)"
    ).add_argument("withdrawal_id")
    commands.add_parser("health", help="each bank's plugin and health check")
    audit = commands.add_parser("audit", help="the audit log, newest first")
    audit.add_argument("--first", type=int, default=50)
    return admin


async def run(args: argparse.Namespace, services: Services, actor: str) -> int:
    """Run one admin command; returns the exit status."""
    ops = services.operations
    command = args.admin_command
    if command == "operator":
        if args.operator_command == "create":
            operator, token = await services.operators.create(args.name, actor=actor)
            print(f"operator {operator.name} created; their token (shown only now):")
            print(token)
        elif args.operator_command == "revoke":
            operator = await services.operators.revoke(args.name, actor=actor)
            print(f"operator {operator.name} revoked at {operator.revoked_at:%Y-%m-%d %H:%M:%S}Z")
        else:
            for o in await services.operators.list():
                state = f"revoked {o.revoked_at:%Y-%m-%d}" if o.revoked_at else "active"
                print(f"{o.name:<24} {state:<20} created {o.created_at:%Y-%m-%d}")
    elif command == "banks":
        for s in await ops.bank_channels():
            print(_bank_line(s))
    elif command == "bank":
        state = await ops.set_bank_channel(
            actor,
            args.code,
            args.channel,
            availability=args.availability,
            percent=args.percent,
            sandbox_users=None if args.sandbox_users is None else args.sandbox_users == "yes",
            users=[] if args.clear_users else None,
            add_users=args.add_user,
            remove_users=args.remove_user,
        )
        print(_bank_line(state))
    elif command == "stuck":
        groups = await ops.stuck(timedelta(seconds=args.older_than))
        for status, items in groups.items():
            print(f"{status}: {len(items)} older than {args.older_than} s")
            for w in items:
                print(f"  {w.id}  {w.bank_code:<8} {w.amount:>10} CNY  {w.stuck_seconds} s  "
                      f"{w.sync_attempts} syncs")
    elif command == "sync":
        view = await ops.force_sync(actor, args.withdrawal_id)
        print(f"{view.id}: {view.status.value}")
    elif command == "withdrawal":
        record = await ops.find_withdrawal(args.id_or_reference)
        if record is None:
            print(f"no withdrawal {args.id_or_reference}")
            return 1
        w = record.withdrawal
        print(f"{w.id}  {w.bank_code}  {w.amount} {w.currency}  {w.status.value}")
        print(f"  user {w.user_id} ({record.user_channel})  bank reference {w.bank_reference}")
        print(f"  from {record.credit_card} to {record.debit_card}")
        for e in record.events:
            start = e.from_status.value if e.from_status else "-"
            print(f"  {e.occurred_at:%Y-%m-%d %H:%M:%S}  {start} -> {e.to_status.value}  "
                  f"[{e.source.value}] {e.detail}")
    elif command == "evidence":
        document = await ops.evidence(actor, args.withdrawal_id)
        print(json.dumps(document, ensure_ascii=False, indent=2))
    elif command == "health":
        checks = await services.registry.health()
        for h in ops.provider_health():
            check = checks.get(h.plugin.code)
            detail = ("healthy" if check.ok else f"unhealthy: {check.detail}") if check else ""
            breaker = f"breaker {h.stats.breaker_state}" if h.stats else h.plugin.reason
            print(f"{h.plugin.code:<8} {h.plugin.status.value:<8} {breaker}  {detail}")
    elif command == "audit":
        for e in await services.operators.audit_log(first=args.first):
            print(f"{e.id:>6}  {e.at:%Y-%m-%d %H:%M:%S}  {e.actor:<20} {e.action:<16} "
                  f"{e.target}  {json.dumps(e.before, ensure_ascii=False)} -> "
                  f"{json.dumps(e.after, ensure_ascii=False)}")
    return 0


def _bank_line(s) -> str:
    r = s.rollout
    pilot = ""
    if s.availability.value == "PILOT":
        pilot = (f"  pilot: {len(r.users)} users, {r.percent}%"
                 + (", sandbox users" if r.sandbox_users else ""))
    busy = f"  {s.in_flight} in flight" if s.in_flight else ""
    return f"{s.bank_code:<8} {s.channel.value:<7} {s.availability.value:<10}{pilot}{busy}"
