"""``python -m bench [--figures 1,3]`` (or ``make bench BENCH=1,3``): run figures, print the table,
write ``bench/results/latest.json``."""

from __future__ import annotations

import argparse
import os
import time
import traceback

from bench import load, servers
from bench.figures import FIGURES
from bench.report import Report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--figures",
        default=os.environ.get("BENCH", "") or ",".join(FIGURES),
        help="comma-separated figure numbers (default: all; env BENCH)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_SECONDS", 8)),
        help="length of one timed load run (default 8)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("BENCH_ROUNDS", 2)),
        help="alternating rounds of cardcash and its baseline (default 2)",
    )
    args = parser.parse_args()
    wanted = [f.strip() for f in args.figures.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {', '.join(FIGURES)}")
    print(
        f"cardcash bench: figures {','.join(wanted)}, {args.seconds:g} s runs, "
        f"{args.rounds} rounds, load from {load.tool()}, {os.cpu_count()} CPUs",
        flush=True,
    )
    print(f"servers: {servers.DEVIATIONS}", flush=True)
    report = Report()
    for figure in wanted:
        t0 = time.monotonic()
        print(f"figure {figure} ...", flush=True)
        try:
            FIGURES[figure](report, args.seconds, args.rounds)
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            report.failures[figure] = f"{type(exc).__name__}: {exc}"[:500]
        print(f"figure {figure} took {time.monotonic() - t0:.0f} s", flush=True)
    print()
    print(report.table())
    print(f"\nwritten to {report.write().relative_to(os.getcwd())}")


if __name__ == "__main__":
    main()
