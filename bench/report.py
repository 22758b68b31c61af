"""The results: one row per figure, printed as a table and written as JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One measured figure beside its baseline. ``met`` is None when there is no target."""

    figure: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict:
        return asdict(self) | {"ratio": None if self.ratio is None else round(self.ratio, 3)}


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  -> {_line(row)}", flush=True)
        return row

    def table(self) -> str:
        header = ("fig", "figure", "value", "baseline", "ratio", "target", "met")
        lines = [header]
        for r in self.rows:
            lines.append(
                (
                    r.figure,
                    r.name,
                    f"{_num(r.value)} {r.unit}",
                    f"{_num(r.baseline)} ({r.baseline_name})" if r.baseline is not None else "-",
                    f"{r.ratio:.2f}x" if r.ratio is not None else "-",
                    r.target or "-",
                    {True: "yes", False: "NO", None: "-"}[r.met],
                )
            )
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        out = []
        for n, line in enumerate(lines):
            out.append(
                "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
            )
            if n == 0:
                out.append("  ".join("-" * w for w in widths))
        for figure, error in self.failures.items():
            out.append(f"figure {figure} failed: {error}")
        return "\n".join(out)

    def write(self, path: Path | None = None) -> Path:
        path = path or RESULTS / "latest.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "environment": environment(),
            "rows": [r.as_dict() for r in self.rows],
            "details": self.details,
            "failures": self.failures,
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        return path


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _line(r: Row) -> str:
    base = f" vs {_num(r.baseline)} {r.baseline_name}" if r.baseline is not None else ""
    met = {True: "met", False: "MISSED", None: ""}[r.met]
    return (
        f"{r.figure} {r.name}: {_num(r.value)} {r.unit}{base} [{r.target}] {met} {r.note}".rstrip()
    )


def environment() -> dict:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "cpus": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "commit": run("git", "rev-parse", "--short", "HEAD"),
        "wrk": run("wrk", "-v").splitlines()[0] if run("which", "wrk") else "",
    }
