"""``python -m bench.instructions [--n 60]``: CPU instructions per request, counted by callgrind.

Wall-clock figures on a shared machine drift from run to run (and the machine this suite was
built on ran at half speed on some days). Instructions do not: valgrind's callgrind counts
them, the same for the same code and inputs whatever else runs. (The service's own work is
not quite the same from run to run: time-based reuse windows expire at other requests, tasks
interleave differently. Counts of the same code vary by about 3 %: compare the mean of a few
counts for smaller changes.) This measures the service's
own work for one request of each kind, in one process, through ``httpx.ASGITransport`` (the
client's share is in the count too, and the same for every version of the service):

- ``catalog``: figure 1's catalog read (as query text), signed out;
- ``offers``: figure 2's page (six sandbox banks, no latency), a signed-in user;
- ``quote``: figure 4's createQuote;
- ``create``: figure 3's createWithdrawal, each on its own fresh quote.

Each scenario runs in its own ``valgrind --tool=callgrind --instr-atstart=no`` process, which
switches counting on (``callgrind_control -i on``) only around the timed requests. Under
valgrind a request takes about 50 times as long: the default of 60 requests per scenario
takes a few minutes in all. Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from api.app import create_app
from api.services.catalog import seed_catalog
from bench import client
from bench.inprocess import bench_settings
from bench.servers import wechat_url
from db.migrate import upgrade

SCENARIOS = ("catalog", "offers", "quote", "create")
SIX_LIVE = Path(__file__).resolve().parent / "catalog-six-live.toml"


def _counting(on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=True,
        capture_output=True,
    )


async def _inner(scenario: str, n: int, workdir: Path, wechat: str) -> None:
    """Runs under callgrind: set up, warm up, then count ``n`` requests."""
    url = f"sqlite+aiosqlite:///{workdir / 'cardcash.db'}"
    await upgrade(url)
    # Every bank live on every channel: a user signed in on WeChat holds cards at all six (the
    # packaged catalog keeps some banks in pilot there).
    catalog = SIX_LIVE
    settings = bench_settings(url, workdir, catalog_file=catalog, wechat=wechat)
    # Under valgrind every step takes about 50 times as long: the deadlines of the channel's
    # login and of the banks' calls are lengthened to match, or a slow moment refuses a login
    # or loses a bank's cards. Nothing else changes, and the counts do not include waiting.
    slow = {"guard_read_timeout_s": "300", "guard_write_timeout_s": "300"}
    options = {code: values | slow for code, values in settings.bank_options.items()}
    settings = settings.model_copy(update={"channel_timeout": 300.0, "bank_options": options})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await seed_catalog(app.state.services.db, catalog)
        async with client.Api("http://bench", httpx.ASGITransport(app=app)) as api:
            users = [await api.login(f"cg{i}") for i in range(16)]
            if scenario == "catalog":
                requests = [(client.CATALOG, None, "")] * n
                expect = '"banks"'
            elif scenario == "offers":
                requests = [(client.OFFERS, None, users[i % 16]) for i in range(n)]
                expect = "CashAdvanceOffer"
            else:
                cards = [await api.cards(token) for token in users]
                quote_input = {
                    "input": {
                        "bankCode": "CEB",
                        "creditCardId": cards[0][0]["CEB"],
                        "amount": "3000.00",
                        "repaymentType": "INSTALLMENT",
                        "periods": 12,
                    }
                }
                if scenario == "quote":
                    requests = [(client.QUOTE, quote_input, users[0])] * n
                    expect = "Quote"
                else:
                    requests = []
                    for i in range(n):  # one withdrawal in flight per card: round-robin
                        token, (credit, debit) = users[i % 16], cards[i % 16]
                        quote = await api.quote(token, "CEB", credit["CEB"])
                        variables = client.withdrawal_input(quote, debit)
                        requests.append((client.CREATE, variables, token))
                    expect = "Withdrawal"
            # Warm-up, not counted: every user's first page, which fetches their cards from
            # the banks (a withdrawal would use its quote up, so none there).
            if scenario != "create":
                for query, variables, token in requests[:16]:
                    await api.q(query, variables, token)
            _counting(True)
            answers = [await api.q(query, variables, token) for query, variables, token in requests]
            _counting(False)
    wrong = [a for a in answers if expect not in json.dumps(a)]
    if wrong:
        raise SystemExit(f"{scenario}: {len(wrong)} unexpected answers, e.g. {wrong[0]}")


def _count(scenario: str, n: int) -> int:
    """Instructions of ``n`` requests of ``scenario``, from a callgrind run of this module."""
    workdir = Path(tempfile.mkdtemp(prefix="cardcash-bench-instructions-"))
    try:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={workdir / 'callgrind.out'}",
                sys.executable,
                "-m",
                "bench.instructions",
                "--inner",
                scenario,
                "--n",
                str(n),
                "--workdir",
                str(workdir),
                # The WeChat stand-in runs outside valgrind, started once for every scenario.
                "--wechat",
                wechat_url(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        found = re.search(r"Collected : (\d+)", run.stderr)
        if run.returncode != 0 or found is None:
            raise SystemExit(f"{scenario}: callgrind run failed\n{run.stdout}\n{run.stderr[-3000:]}")
        return int(found.group(1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--n", type=int, default=60, help="counted requests per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--inner", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--wechat", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        import uvloop

        uvloop.run(_inner(args.inner, args.n, args.workdir, args.wechat))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    for scenario in args.scenarios.split(","):
        total = _count(scenario, args.n)
        print(f"{scenario:<8} {total / args.n / 1e6:7.2f} M instructions a request  (n={args.n})")


if __name__ == "__main__":
    main()
