"""Load from a separate process: wrk (with ``lua/requests.lua``), or :mod:`bench.pyload`.

Requests are pre-generated into a file (one per line) that the load generator cycles through,
so the generator does no work per request beyond sending it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
LUA = HERE / "lua" / "requests.lua"


@dataclass(frozen=True)
class Req:
    """One request: method, path (with query string), bearer token, JSON body."""

    method: str
    path: str
    token: str = ""
    body: str = ""

    def line(self) -> str:
        if "\t" in self.body or "\n" in self.body:
            raise ValueError("a request body must be one line without tabs")
        return f"{self.method}\t{self.path}\t{self.token}\t{self.body}"


def graphql_post(query: str, variables: dict | None = None, token: str = "", **extra) -> Req:
    body = {"query": query, "variables": variables or {}} | extra
    return Req("POST", "/graphql", token, json.dumps(body, separators=(",", ":")))


def graphql_get(params: dict, token: str = "") -> Req:
    encoded = {
        k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        for k, v in params.items()
    }
    return Req("GET", "/graphql?" + urlencode(encoded), token)


def write_requests(path: Path, requests: list[Req]) -> Path:
    path.write_text("".join(r.line() + "\n" for r in requests))
    return path


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    sent: int
    ok: int
    bad: int
    wrapped: int
    sample: str = ""
    tool: str = "wrk"
    raw: dict = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "errors": self.errors,
            "bad_bodies": self.bad,
            "tool": self.tool,
        }


def _profiler(profile: tuple[int, str] | None, seconds: float) -> subprocess.Popen | None:
    spy = Path(sys.executable).parent / "py-spy"
    if not (profile and os.environ.get("BENCH_PROFILE") and spy.exists()):
        return None
    pid, name = profile
    out = HERE / "results" / f"profile-{name}.txt"
    out.parent.mkdir(exist_ok=True)
    argv = [
        str(spy),
        "record",
        "-p",
        str(pid),
        "-d",
        str(max(1, round(seconds) - 1)),
        "-r",
        "250",
        # Only the thread that holds the GIL: the Python work itself. Without it, a thread
        # waiting for the GIL is sampled where it waits, which credits the loop with work
        # that the driver's threads did.
        "--gil",
        "-f",
        "raw",
        "-o",
        str(out),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "pyload"


def run(
    url: str,
    requests_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    expect: str = "",
    timeout_s: int = 10,
    profile: tuple[int, str] | None = None,
) -> LoadResult:
    """Drive ``url`` with the requests of ``requests_file`` for ``seconds`` (closed loop).

    With ``BENCH_PROFILE=1`` and ``profile=(pid, name)``, py-spy samples that process during
    the run into ``bench/results/profile-<name>.txt`` (collapsed stacks; see docs/performance.md).
    """
    spy = _profiler(profile, seconds)
    threads = max(1, min(threads, connections))
    if tool() == "wrk":
        argv = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            f"{timeout_s}s",
            "-s",
            str(LUA),
            url,
            "--",
            str(requests_file),
            str(threads),
            expect,
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "bench.pyload",
            url,
            str(requests_file),
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
            "--expect",
            expect,
            "--timeout",
            str(timeout_s),
        ]
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=HERE.parent, timeout=seconds + timeout_s + 60
    )
    if spy is not None:
        spy.wait(timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr[-1000:]}")
    out = done.stdout
    data, sample = None, ""
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line[len("BENCH_JSON ") :])
        elif line.startswith("BENCH_SAMPLE "):
            sample = line[len("BENCH_SAMPLE ") :]
    if data is None:
        raise RuntimeError(f"load generator gave no summary:\n{out[-2000:]}")
    errors = sum(v for k, v in data.items() if k.startswith("errors_"))
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=errors,
        sent=data["sent"],
        ok=data["ok"],
        bad=data["bad"],
        wrapped=data["wrapped"],
        sample=sample,
        tool=tool(),
        raw=data,
    )
