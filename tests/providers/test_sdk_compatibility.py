"""A plugin written against SDK 1.0 keeps passing the conformance suite, unchanged.

``sdk_1_0_plugin/`` is the example bank package as it was written for SDK 1.0 (positional
dataclass construction, its own callback signing, none of the later fixtures). The suite runs
in a subprocess with only that package added to the path, as its author would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent / "sdk_1_0_plugin"


def test_a_plugin_written_for_sdk_1_0_passes_the_suite_unchanged(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PLUGIN)}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests"),
         "--rootdir", str(PLUGIN), "-c", str(PLUGIN / "pyproject.toml")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout and "failed" not in completed.stdout
    # The sample's own declaration: written for 1.0.
    assert 'sdk_version = "1.0"' in (PLUGIN / "cardcash_examplebank" / "bank.py").read_text()


def test_an_offer_can_be_built_with_every_field_named_and_only_so():
    from decimal import Decimal

    from providers import Offer, SingleMonthPricing

    pricing = SingleMonthPricing(Decimal("0.0005"), Decimal("0.01"), Decimal("10.00"))
    named = Offer.of(card_ref="c", currency="CNY", credit_limit=Decimal("20000.00"),
                     available_limit=Decimal("8000.00"), min_amount=Decimal("100.00"),
                     max_amount=Decimal("5000.00"), daily_remaining=Decimal("5000.00"),
                     single_month=pricing, installments=[])
    positional = Offer("c", "CNY", Decimal("20000.00"), Decimal("8000.00"), Decimal("100.00"),
                       Decimal("5000.00"), Decimal("5000.00"), pricing)
    assert named == positional  # the 1.0 way still works, and means the same
    import pytest

    with pytest.raises(TypeError):
        Offer.of("c", "CNY")  # type: ignore[misc]


def test_fields_added_since_1_0_are_keyword_only_with_defaults():
    import dataclasses

    import pytest

    from providers import CardInfo, CardKind, InstallmentPricing, SingleMonthPricing

    card = CardInfo("ref", CardKind.DEBIT, "ICBC", "1234", "Debit")
    assert (card.usable_for_payout, card.payout_note) == (True, "")
    with pytest.raises(TypeError):
        CardInfo("ref", CardKind.DEBIT, "ICBC", "1234", "Debit", False)  # type: ignore[misc]
    for cls, new in ((CardInfo, {"usable_for_payout", "payout_note"}),
                     (SingleMonthPricing, {"term_days"}),
                     (InstallmentPricing, {"min_amount", "max_amount"})):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name in new:
            assert fields[name].kw_only, (cls.__name__, name)


def test_the_purpose_is_the_closed_set_the_api_offers_and_still_a_string():
    from api.schema.withdrawals import FundPurpose as ApiPurpose
    from providers import WithdrawalPurpose

    assert [p.value for p in WithdrawalPurpose] == [p.value for p in ApiPurpose]
    assert WithdrawalPurpose.EDUCATION == "EDUCATION" and isinstance(
        WithdrawalPurpose.EDUCATION, str)
