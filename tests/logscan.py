"""The suite-wide log scan: every log line the test suite writes must be free of secrets.

``tests/conftest.py`` installs :class:`SuiteLogCollector` on the root logger for the whole
session; it formats each record as production does (the JSON formatter behind the request
context and redaction filters) and keeps the line. At the end of the session the lines, and the
log files that server processes wrote under the session's temporary directory, are searched
with :func:`find_secrets`; a hit fails the run.

The patterns are written independently of the redaction filter's, so the scan checks the filter
rather than repeating it.
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path

from api.logging_setup import build_handler

PATTERNS = {
    "card number": re.compile(r"(?<![\w.])(?:\d[ -]?){15,18}\d(?!\w)"),
    "bearer token": re.compile(r"(?i)\bbearer\s+(?!\[REDACTED\])[\w.~+/=-]{8,}"),
    "JWT": re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\."),
    "session_key": re.compile(r"(?i)session_?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9+/=]{8,}"),
    "verification code": re.compile(
        r"(?i)(?:verif\w*|otp|sms\w*)\b[^\n]{0,40}?(?<!\d)123456(?!\d)"
    ),
}


def find_secrets(lines) -> list[tuple[str, str]]:
    """``(kind, line)`` for every line that shows a secret."""
    hits = []
    for line in lines:
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                hits.append((kind, line[:300]))
    return hits


class SuiteLogCollector(logging.Handler):
    """Keeps every record of the session, formatted as the production handler would."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        production = build_handler(fmt="json")
        self.setFormatter(production.formatter)
        self.filters_in_order = list(production.filters)
        self.lines: list[str] = []

    def handle(self, record: logging.LogRecord) -> bool:
        # A copy: redacting in place would change what other handlers (caplog) see.
        record = copy.copy(record)
        for f in self.filters_in_order:
            f.filter(record)
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - an unformattable record is itself a finding
            self.lines.append(f"UNFORMATTABLE {record.name}: {record.msg!r}")
        return True

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        pass


def log_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.log") if p.is_file())
