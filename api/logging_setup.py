"""Logging for the whole process: JSON lines, a request id on each, secrets redacted.

One configuration, :func:`logging_config`, is handed to uvicorn by ``cardcash serve`` (so
uvicorn's own loggers and every worker use it) and can be applied with
:func:`configure_logging` by anything else that serves the app.

Two filters sit on the handler, so every record passes them whichever logger wrote it:

- :class:`RequestContextFilter` adds ``request_id`` (and ``user_id`` once known) from the
  request being served;
- :class:`RedactFilter` removes card numbers, bearer and JWT tokens, session keys, login codes
  and verification codes from the message, the exception text and any extra field. The code
  takes care not to log such things; the filter is the guarantee when someone forgets.
"""

from __future__ import annotations

import logging
import logging.config
import re
from contextvars import ContextVar
from typing import Any

import orjson

#: The id of the request being served (set by the request middleware).
request_id_var: ContextVar[str | None] = ContextVar("cardcash_request_id", default=None)
#: The signed-in user of the request being served, once known.
user_id_var: ContextVar[str | None] = ContextVar("cardcash_user_id", default=None)

REDACTED = "[REDACTED]"

# 13-19 digits, optionally grouped by spaces or dashes: every card number length.
_CARD = re.compile(r"(?<![\w.])(?:\d[ -]?){12,18}\d(?![\w])")
_BEARER = re.compile(r"(?i)\bbearer\s+(?!\[REDACTED\])[^\s\"',;]+")
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
# key=value / "key": "value" pairs whose value is a secret whatever it looks like.
_SECRET_PAIR = re.compile(
    r"(?i)([\"']?\b(?:session_?key|access_?token|refresh_?token|app_?secret|secret_?key|secret|"
    r"password|passwd|token|private_?key|sign|signature|js_?code|auth_?code|verification_?code|"
    r"sms_?code|otp|cvv2?|pin)\b[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,;})\]]+)"
)
# A bare "code": login codes are long opaque strings; error codes (UPPER_SNAKE) stay readable.
_CODE_PAIR = re.compile(
    r"(?i)([\"']?\b(?:code)\b[\"']?\s*[:=]\s*[\"']?)(?![A-Z][A-Z0-9_]*\b)([^\"'&\s,;})\]]{4,})"
)
# Digits near a word that says they are a one-time code.
_VERIFICATION = re.compile(r"(?i)((?:verif\w*|otp|sms\w*|验证码|passcode)[^\d]{1,30}?)(\d{4,8})\b")


# What every pattern above needs at least: a key-value separator (secret and code pairs), a
# JWT's header, the word bearer, or four digits in a row with at most one space or dash
# between each (card numbers, verification codes). Text without any of them is clean, and
# most log text is: one scan instead of six.
_MAYBE_SECRET = re.compile(r"[:=]|eyJ|(?i:bearer)|\d[ -]?\d[ -]?\d[ -]?\d")


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced.

    >>> redact("card 6225 8801 2345 6789 token=abc.def")
    'card ****6789 token=[REDACTED]'
    """
    if not text or not _MAYBE_SECRET.search(text):
        return text
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub("Bearer " + REDACTED, text)
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    text = _CODE_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    text = _VERIFICATION.sub(lambda m: m.group(1) + REDACTED, text)
    return _CARD.sub(lambda m: "****" + re.sub(r"\D", "", m.group(0))[-4:], text)


# Attributes every LogRecord has; anything else was passed as ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "user_id",
}


class RedactFilter(logging.Filter):
    """Redacts the record in place: message, exception and stack text, string extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_cardcash_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record  # noqa: BLE001
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters re-render exc_info when present; only the redacted text may remain.
            record.exc_text, record.exc_info = redact(record.exc_text), None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = record.__dict__
        for key in fields.keys() - _STANDARD:
            if isinstance(value := fields[key], str):
                fields[key] = redact(value)
        record._cardcash_redacted = True
        return True


class RequestContextFilter(logging.Filter):
    """Adds the request id and user id of the request being served (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "user_id"):
            record.user_id = user_id_var.get()
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message``, ``request_id``,
    ``user_id``, any ``extra`` fields, and ``exc_info`` / ``stack_info`` when present.

    Written for the access log's budget (one line per request): a dictionary and one orjson
    call, a few microseconds a line.
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": fields.get("request_id"),
            "user_id": fields.get("user_id"),
        }
        for key in fields.keys() - _STANDARD:
            if not key.startswith("_"):
                line[key] = fields[key]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def build_handler(stream=None, fmt: str = "json") -> logging.Handler:
    """The one log handler: a stream of JSON (or text) lines behind both filters."""
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactFilter())
    return handler


def logging_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dictionary around :func:`build_handler`.

    JSON lines come from :class:`JsonLineFormatter` (``time``, ``level``, ``logger``, ``message``,
    ``request_id``, ``user_id`` and any ``extra`` fields). uvicorn's access log is left off:
    the request middleware writes one richer line per request instead.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "default": {
                "()": "api.logging_setup.build_handler",
                "stream": "ext://sys.stderr",
                "fmt": fmt,
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Apply :func:`logging_config` to this process."""
    logging.config.dictConfig(logging_config(level, fmt))
