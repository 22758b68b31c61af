"""A Python load generator for machines without wrk: closed-loop HTTP/1.1 keep-alive clients
on raw asyncio streams (uvloop when installed), in a process of its own.

Same input file and same ``BENCH_JSON`` summary as ``lua/requests.lua``. It costs more CPU per
request than wrk, so on a small machine it lowers the measured ceiling of fast endpoints; the
figures record which generator produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


def build(lines: list[str], host: str) -> list[bytes]:
    out = []
    for line in lines:
        method, path, token, body = line.rstrip("\n").split("\t", 3)
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
        if token:
            head.append(f"Authorization: Bearer {token}")
        data = body.encode()
        if data:
            head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        out.append(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    return out


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def main(args: argparse.Namespace, lines: list[str]) -> None:
    url = urlsplit(args.url)
    stats = {"sent": 0, "ok": 0, "bad": 0, "errors": 0, "wrapped": 0, "sample": ""}
    latencies: list[float] = []
    shards = [build(lines[i :: args.connections], url.netloc) for i in range(args.connections)]
    deadline = time.perf_counter() + args.seconds

    async def client(requests: list[bytes]) -> None:
        if not requests:
            return
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        i = 0
        while time.perf_counter() < deadline:
            if i == len(requests):
                i, stats["wrapped"] = 0, stats["wrapped"] + 1
            start = time.perf_counter()
            writer.write(requests[i])
            stats["sent"] += 1
            i += 1
            try:
                status, body = await asyncio.wait_for(read_response(reader), args.timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                stats["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(url.hostname, url.port)
                continue
            latencies.append(time.perf_counter() - start)
            if args.expect:
                if status == 200 and args.expect.encode() in body:
                    stats["ok"] += 1
                else:
                    stats["bad"] += 1
                    stats["sample"] = (
                        stats["sample"] or f"{status} {body[:400].decode(errors='replace')}"
                    )
            elif status >= 400:
                stats["errors"] += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(s) for s in shards))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> int:
        return (
            int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6)
            if latencies
            else 0
        )

    summary = {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "errors_connect": 0,
        "errors_read": stats["errors"],
        "errors_write": 0,
        "errors_status": 0,
        "errors_timeout": 0,
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "p999_us": pct(99.9),
        "mean_us": sum(latencies) / max(1, len(latencies)) * 1e6,
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
        "sent": stats["sent"],
        "ok": stats["ok"],
        "bad": stats["bad"],
        "wrapped": stats["wrapped"],
    }
    print("BENCH_JSON " + json.dumps(summary))
    if stats["sample"]:
        print("BENCH_SAMPLE " + stats["sample"].replace("\n", " "))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("file")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--expect", default="")
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with open(args.file) as f:
        lines = [line for line in f if line.strip()]
    asyncio.run(main(args, lines))
