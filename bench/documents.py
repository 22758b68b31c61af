"""``python -m bench.documents [--levels 14,17,20] [--profile 16]``: hostile documents, timed.

Each shape is a small document (a few hundred tokens, under every configured limit) whose named
fragments spread the next one several times, so that its size *after* fragment expansion grows
exponentially with the number of levels. For each shape and level it prints:

- in process: the schema alone (parse, validate, execute) as ``schema.execute`` runs it;
- against a real ``cardcash serve`` at production defaults: the answer's time and code, and
  the longest a ``/healthz`` sent meanwhile (every 50 ms) waited for its answer.

A request is given up after ``--timeout`` seconds (the figure then reads ``> timeout``).
``--profile N`` prints where the time of the doubled shape at N levels goes (cProfile, by
cumulative time), to tell the document checks from graphql-core's validation and execution.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from collections.abc import Callable

import httpx

from bench import servers

#: A shape: the number of levels -> the document.
Shape = Callable[[int], str]


def _chain(n: int, name: str, on: str, body: Callable[[str], str], top: str) -> str:
    """``top`` spreads fragment 0; fragment i's selection is ``body(spreads of i+1)``."""
    parts = [top]
    for i in range(n):
        spread = f"...{name}{i + 1}" if i < n - 1 else ""
        parts.append(f"fragment {name}{i} on {on} {{ {body(spread)} }}")
    return " ".join(parts)


def doubled(n: int) -> str:
    """The reported document: each fragment on Query spreads the next twice."""
    return _chain(
        n, "F", "Query", lambda s: f"{s} {s} banks(channel: WECHAT) {{ code }}", "query Q { ...F0 }"
    )


def tripled(n: int) -> str:
    """Three spreads a level."""
    return _chain(
        n, "T", "Query", lambda s: f"{s} {s} {s} banks(channel: WECHAT) {{ code }}", "{ ...T0 }"
    )


def in_object(n: int) -> str:
    """Inside an object's selection: fragments on Bank, under ``banks``."""
    return _chain(
        n, "B", "Bank", lambda s: f"{s} {s} code name", "{ banks(channel: ALIPAY) { ...B0 } }"
    )


def aliased(n: int) -> str:
    """Every level adds an alias, so the aliases multiply with the spreads."""
    return _chain(
        n, "A", "Query", lambda s: f"{s} {s} a: banks(channel: WECHAT) {{ c: code }}", "{ ...A0 }"
    )


def inline(n: int) -> str:
    """The spreads sit in inline fragments (and under ``bank``, an object selection)."""
    return _chain(
        n,
        "I",
        "Bank",
        lambda s: f"... on Bank {{ {s} code }} ... on Bank {{ {s} name }}",
        '{ bank(code: "CEB", channel: WECHAT) { ...I0 } }',
    )


SHAPES: dict[str, Shape] = {
    "doubled": doubled,
    "tripled": tripled,
    "in-object": in_object,
    "aliased": aliased,
    "inline": inline,
}


async def in_process(
    documents: list[tuple[str, int, str]], timeout: float, profiler: cProfile.Profile | None = None
) -> None:
    """Prints the time of each document answered by the app in this process (through
    ``httpx.ASGITransport``, production-like settings): the service's own work, no network."""
    from api.app import create_app
    from api.services.catalog import seed_catalog
    from bench.inprocess import bench_settings
    from db.migrate import upgrade

    with servers.Workdir("documents-inprocess") as workdir:
        url = f"sqlite+aiosqlite:///{workdir / 'cardcash.db'}"
        await upgrade(url)
        app = create_app(bench_settings(url, workdir))
        async with app.router.lifespan_context(app):
            await seed_catalog(app.state.services.db)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for shape, n, document in documents:
                    if profiler is not None:
                        profiler.enable()
                    started = time.perf_counter()
                    response = await client.post("/graphql", json={"query": document})
                    seconds = time.perf_counter() - started
                    if profiler is not None:
                        profiler.disable()
                    print(
                        f"  {shape:<10} {n:>3} levels {len(document):>5} chars  "
                        f"{_fmt(seconds, timeout)}  {_outcome(response)}",
                        flush=True,
                    )


def _outcome(response: httpx.Response) -> str:
    errors = response.json().get("errors") or []
    code = errors[0].get("extensions", {}).get("code") if errors else None
    return f"{response.status_code} {code or 'data'}"


async def against(url: str, document: str, timeout: float) -> tuple[float | None, str, float]:
    """(seconds, outcome, longest /healthz wait) for ``document`` sent to a real server."""
    stop = asyncio.Event()
    longest = 0.0

    async def probe(client: httpx.AsyncClient) -> None:
        nonlocal longest
        while not stop.is_set():
            started = time.perf_counter()
            try:
                await client.get("/healthz", timeout=timeout)
            except httpx.HTTPError:
                pass
            longest = max(longest, time.perf_counter() - started)
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=url) as client, httpx.AsyncClient(base_url=url) as hc:
        prober = asyncio.create_task(probe(hc))
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        try:
            response = await client.post("/graphql", json={"query": document}, timeout=timeout)
            seconds: float | None = time.perf_counter() - started
            outcome = _outcome(response)
        except httpx.TimeoutException:
            seconds, outcome = None, "timeout"
        stop.set()
        await prober
    return seconds, outcome, longest


def _fmt(seconds: float | None, timeout: float) -> str:
    return f"> {timeout:g} s" if seconds is None else f"{seconds * 1000:9.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.documents", description=__doc__)
    parser.add_argument("--levels", default="14,17,20")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--no-server", action="store_true", help="in process only")
    parser.add_argument("--no-process", action="store_true", help="real server only")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    shapes = [s for s in args.shapes.split(",") if s]
    if args.profile:
        profiler = cProfile.Profile()
        asyncio.run(in_process([("doubled", args.profile, doubled(args.profile))], 0, profiler))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
        return
    documents = [(shape, n, SHAPES[shape](n)) for shape in shapes for n in levels]
    if not args.no_process:
        print("in process (the app through httpx.ASGITransport, production-like settings):")
        asyncio.run(in_process(documents, args.timeout))
    if args.no_server:
        return
    with servers.Workdir("documents") as workdir:
        env = servers.cardcash_env(workdir, env="prod")
        servers.prepare_database(env, workdir)
        print("real server (cardcash serve, CARDCASH_ENV=prod), /healthz polled meanwhile:")
        for shape, n, document in documents:
            # A fresh server each time: one still busy with the previous document would make
            # the next figure wait for it.
            with servers.cardcash(env, workdir) as server:
                seconds, outcome, longest = asyncio.run(against(server.url, document, args.timeout))
            print(
                f"  {shape:<10} {n:>3} levels  {_fmt(seconds, args.timeout)}  {outcome:<28}"
                f"  longest /healthz {longest * 1000:8.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
