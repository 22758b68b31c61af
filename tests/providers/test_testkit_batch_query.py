"""The conformance suite checks the optional batch status query of a bank that offers one.

A separate pytest run (pytester) plays plugin authors whose sandbox-based banks get the batch
query wrong in several ways; the suite's batch test must fail each of them, and only it.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

BANK = textwrap.dedent(
    '''
    from dataclasses import replace

    import pytest_asyncio

    from providers import ProviderContext
    from api.banks.sandbox import SandboxBank
    from providers.testkit import ConformanceSuite


    class Bank(SandboxBank):
        async def query_withdrawals(self, request_ids):
            answer = dict(await super().query_withdrawals(request_ids))
            DEFECT
            return answer


    class TestBank(ConformanceSuite):
        @pytest_asyncio.fixture
        async def bank_provider(self, tmp_path):
            options = {"latency_ms": "0", "settlement_delay_s": "0.05", "failure_rate": "0"}
            bank = Bank.from_data_file("SPABANK", ProviderContext("SPABANK", tmp_path, options))
            yield bank
            await bank.aclose()
    '''
)

DEFECTS = {
    "a known withdrawal left out": ("answer.popitem()", "must answer exactly the known ids"),
    "an unknown id answered": (
        "answer['conformance-never-submitted'] = next(iter(answer.values()))",
        "must answer exactly the known ids",
    ),
    "another amount": (
        "answer = {k: replace(v, amount=v.amount + 1) for k, v in answer.items()}",
        "bank reports",
    ),
    "a list, not a mapping": ("answer = list(answer.values())", "query_withdrawals answered list"),
}


def run(pytester, defect: str) -> dict[str, tuple[str, str]]:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_bank=BANK.replace("DEFECT", defect))
    reports = pytester.inline_run("-p", "no:cacheprovider").getreports("pytest_runtest_logreport")
    return {
        report.nodeid.rsplit("::", 1)[-1]: (report.outcome, str(report.longrepr or ""))
        for report in reports
        if report.when == "call" or report.outcome != "passed"
    }


@pytest.mark.parametrize("defect", DEFECTS, ids=list(DEFECTS))
def test_the_batch_test_fails_a_wrong_batch_query_and_nothing_else(pytester, defect):
    code, phrase = DEFECTS[defect]
    outcomes = run(pytester, code)
    failed = {name for name, (outcome, _) in outcomes.items() if outcome == "failed"}
    assert failed == {"test_a_batch_query_answers_as_single_queries_do"}, outcomes
    assert phrase in outcomes["test_a_batch_query_answers_as_single_queries_do"][1]


def test_a_right_batch_query_passes(pytester):
    outcomes = run(pytester, "pass")
    assert outcomes["test_a_batch_query_answers_as_single_queries_do"][0] == "passed"
    assert not [name for name, (outcome, _) in outcomes.items() if outcome == "failed"]
