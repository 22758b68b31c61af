"""Daily reconciliation against the sandbox banks' statements, each kind of discrepancy
injected through the banks' options, and `cardcash reconcile` as an operator runs it."""

from __future__ import annotations

import json
import logging
import os
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from api.banks.guard import GuardedProvider
from api.banks.registry import Registry
from api.runtime import registry_for
from api.services.banks import today_in_china
from api.services.reconciliation import Reconciler, Result
from db.models import Reconciliation, Withdrawal, WithdrawalEvent
from providers import ProviderContext
from tests.api.flow import User
from tests.api.test_admin import admin, operator_token
from tests.api.test_cli import run
from tests.conftest import FAST_BANKS, make_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cardcash-examplebank"


async def settled_withdrawals(client, count: int) -> list[str]:
    """``count`` CEB withdrawals of today, each at its end (SUCCEEDED)."""
    ids = []
    for i in range(count):
        user = await User.sign_in(client, f"reconcile-{i}")
        withdrawal = await user.withdraw(await user.quote("CEB", f"{1000 + i}.00"))
        if withdrawal["status"] == "VERIFICATION_REQUIRED":
            withdrawal = await user.confirm(withdrawal["id"])
        ids.append((await user.wait_for(withdrawal["id"], "SUCCEEDED"))["id"])
    return ids


async def snapshot(app) -> tuple[list, list]:
    async with app.state.services.db.read() as session:
        withdrawals = [w.model_dump() for w in await session.exec(select(Withdrawal))]
        events = [e.model_dump() for e in await session.exec(select(WithdrawalEvent))]
    return sorted(withdrawals, key=lambda w: w["id"]), events


def reconciler(app, database_url: str, tmp_path: Path, **ceb: str) -> Reconciler:
    """A reconciler whose CEB statement has the discrepancies ``ceb`` asks for: another
    process's view of the same sandbox bank, as `cardcash reconcile` has."""
    options = FAST_BANKS | {"CEB": {k: str(v) for k, v in ceb.items()}}
    settings = make_settings(database_url, tmp_path / "data", bank_options=options)
    return Reconciler(app.state.services.db, registry_for(settings))


async def test_a_clean_day_is_clean(client, app, database_url, tmp_path):
    ids = await settled_withdrawals(client, 2)
    report = await reconciler(app, database_url, tmp_path).reconcile("CEB", today_in_china())
    assert report.result is Result.CLEAN, report.summary()
    assert (report.ours, report.theirs, report.matched, report.findings) == (2, 2, 2, [])
    # A bank with nothing that day is clean too.
    quiet = await reconciler(app, database_url, tmp_path).reconcile("SPABANK", today_in_china())
    assert quiet.result is Result.CLEAN and quiet.ours == quiet.theirs == 0
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("option", "kind", "ours_side", "bank_side"),
    [
        ("statement_missing", "MISSING_AT_BANK", True, False),
        ("statement_extra", "EXTRA_AT_BANK", False, True),
        ("statement_amount_off", "AMOUNT_MISMATCH", True, True),
        ("statement_state_off", "STATUS_MISMATCH", True, True),
    ],
)
async def test_each_injected_discrepancy_is_found(
    client, app, database_url, tmp_path, option, kind, ours_side, bank_side
):
    ids = await settled_withdrawals(client, 3)
    before = await snapshot(app)
    checker = reconciler(app, database_url, tmp_path, **{option: 1})
    report = await checker.reconcile("CEB", today_in_china())
    assert report.result is Result.DISCREPANCIES
    assert [f.kind.value for f in report.findings] == [kind]
    finding = report.findings[0]
    assert (finding.ours is not None, finding.bank is not None) == (ours_side, bank_side)
    if ours_side:
        assert finding.request_id in ids
    if kind == "AMOUNT_MISMATCH":
        assert Decimal(finding.bank.amount) - Decimal(finding.ours.amount) == Decimal("0.01")
    if kind == "STATUS_MISMATCH":
        assert (finding.ours.status, finding.bank.status) == ("SUCCEEDED", "FAILED")
    assert report.matched == 3 - (1 if ours_side else 0)
    assert await snapshot(app) == before  # it never changes a withdrawal


async def test_a_plugin_without_a_statement_is_not_reconciled(app, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from cardcash_examplebank.bank import ExampleBank

    bank = ExampleBank(ProviderContext("EXAMPLEBANK", tmp_path, logger=logging.getLogger("x")))
    registry = Registry({"EXAMPLEBANK": GuardedProvider(bank)}, [])
    report = await Reconciler(app.state.services.db, registry).reconcile(
        "EXAMPLEBANK", today_in_china()
    )
    assert report.result is Result.UNSUPPORTED and "list_withdrawals" in report.detail


async def test_cardcash_reconcile_reports_records_and_exits(start_app, database_url, tmp_path):
    client, app = await start_app(admin=True)
    await settled_withdrawals(client, 4)
    day = today_in_china().isoformat()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDCASH_")}
    env |= {
        "CARDCASH_DATABASE_URL": database_url,
        "CARDCASH_DATA_DIR": str(tmp_path / "data"),
        "CARDCASH_BANK_OPTIONS": json.dumps(FAST_BANKS),
    }
    out = tmp_path / "reports"
    clean = run(["reconcile", "--date", day, "--bank", "CEB", "--out", str(out)], env, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "CEB for " + day in clean.stdout and "CLEAN" in clean.stdout

    dirty = FAST_BANKS | {
        "CEB": {
            "statement_missing": "1", "statement_extra": "1", "statement_amount_off": "1",
            "statement_state_off": "1",
        }
    }
    found = run(
        ["reconcile", "--date", day, "--out", str(out)],
        env | {"CARDCASH_BANK_OPTIONS": json.dumps(dirty)}, tmp_path,
    )
    assert found.returncode == 1, found.stdout + found.stderr
    report = json.loads((out / f"{day}-CEB.json").read_text())
    assert report["result"] == "DISCREPANCIES"
    assert sorted(f["kind"] for f in report["findings"]) == [
        "AMOUNT_MISMATCH", "EXTRA_AT_BANK", "MISSING_AT_BANK", "STATUS_MISMATCH",
    ]
    summary = (out / f"{day}-CEB.txt").read_text()
    assert "DISCREPANCIES" in summary and "MISSING_AT_BANK" in summary
    assert "SPABANK" in found.stdout  # every installed bank, each its own report
    assert (out / f"{day}-SPABANK.json").exists()

    # Recorded for the operator API: the latest run of each bank's day.
    async with app.state.services.db.read() as session:
        assert (await session.get(Reconciliation, ("CEB", today_in_china()))).discrepancies == 4
    token = await operator_token(app)
    query = """query($day: Date) { reconciliations(day: $day, bankCode: "CEB") {
      bankCode day result ours theirs discrepancies report } }"""
    rows = (await admin(client, query, {"day": day}, token=token)).json()["data"]
    (row,) = rows["reconciliations"]
    assert (row["result"], row["ours"], row["theirs"], row["discrepancies"]) == (
        "DISCREPANCIES", 4, 4, 4,
    )
    assert len(row["report"]["findings"]) == 4

    bad = run(["reconcile", "--date", "yesterday"], env, tmp_path)
    assert bad.returncode != 0 and "YYYY-MM-DD" in bad.stderr
