"""Logging for the whole process: JSON lines, a request id on each, secrets redacted.

One configuration, :func:`logging_config`, is handed to uvicorn by ``cardcash serve`` (so
uvicorn's own loggers and every worker use it) and can be applied with
:func:`configure_logging` by anything else that serves the app.

Two filters sit on the handler, so every record passes them whichever logger wrote it:

- :class:`RequestContextFilter` adds ``request_id`` (and ``user_id`` once known) from the
  request being served;
- :class:`RedactFilter` removes card numbers, bearer and JWT tokens, session keys, login codes,
  verification codes and URL query strings from the message, the exception text and any extra
  field, with the one redactor :func:`providers.scrub.redact`. The code takes care not to log
  such things; the filter is the guarantee when someone forgets.
"""

from __future__ import annotations

import collections
import logging
import logging.config
import threading
import time
import traceback
import weakref
from contextvars import ContextVar
from typing import Any

import orjson

from providers.scrub import may_hold_secrets, redact

#: The id of the request being served (set by the request middleware).
request_id_var: ContextVar[str | None] = ContextVar("cardcash_request_id", default=None)
#: The signed-in user of the request being served, once known.
user_id_var: ContextVar[str | None] = ContextVar("cardcash_user_id", default=None)

#: Whether a text is one :func:`redact` leaves as it is, for the few values access lines
#: repeat (methods, routes, operation names, addresses): one dict lookup instead of a scan.
_VERDICTS: dict[str, bool] = {}


def _clean(text: str) -> bool:
    verdict = _VERDICTS.get(text)
    if verdict is None:
        if len(text) > 200:
            return not may_hold_secrets(text)
        if len(_VERDICTS) >= 4096:  # names clients choose: never more than this many kept
            _VERDICTS.clear()
        verdict = _VERDICTS[text] = not may_hold_secrets(text)
    return verdict


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


#: Handlers holding access lines not written yet (flushed at shutdown, see :func:`flush`).
_BUFFERING: weakref.WeakSet[JsonLineHandler] = weakref.WeakSet()
#: A buffer this long is written at once, whatever the flush interval.
_FLUSH_LINES = 1000


class JsonLineHandler(logging.StreamHandler):
    """The JSON-lines handler, which also writes access lines without a ``LogRecord``.

    Records go through both filters and :class:`JsonLineFormatter` and are written at once.
    An access line (:func:`log_access`) is a dictionary redacted as :class:`RedactFilter`
    would, serialized by orjson; with ``flush_seconds`` above 0 it waits in a buffer that a
    background thread writes every ``flush_seconds`` (sooner once it holds
    :data:`_FLUSH_LINES`), one write for all, instead of one write(2) per request (a line at
    WARNING or above, a failed request's, is written at once). A record
    written meanwhile goes out after the lines before it, so the stream keeps its order;
    :meth:`flush`, :meth:`close` and :func:`flush` (the app's shutdown) write what waits.
    """

    def __init__(self, stream=None, flush_seconds: float = 0.0) -> None:
        super().__init__(stream)
        self.setFormatter(JsonLineFormatter())
        self.addFilter(RequestContextFilter())
        self.addFilter(RedactFilter())
        #: The filters :meth:`write_access` stands in for; any other means the usual path.
        self.own_filters = list(self.filters)
        self.flush_seconds = flush_seconds
        self._pending: collections.deque[str] = collections.deque()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._second = -1
        self._time_prefix = ""

    def _time(self, now: float) -> str:
        """``now`` as :meth:`logging.Formatter.formatTime` writes it, made once per second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._time_prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._time_prefix},{int((now - second) * 1000):03d}"

    def write_access(self, level: int, message: str, fields: dict[str, Any]) -> None:
        line: dict[str, Any] = {
            "time": self._time(time.time()),
            "level": logging.getLevelName(level),
            "logger": ACCESS_LOGGER,
            "message": message if _clean(message) else redact(message),
            "request_id": request_id_var.get(),
            "user_id": fields.get("user_id", user_id_var.get()),
        }
        # As RedactFilter: the message and every string field but the user id.
        for key, value in fields.items():
            if key != "user_id":
                line[key] = value if not isinstance(value, str) or _clean(value) else redact(value)
        text = orjson.dumps(line, default=str).decode() + self.terminator
        if self.flush_seconds <= 0 or self._closed or level >= logging.WARNING:
            with self.lock:
                self._write_pending()
                self.stream.write(text)
                self.stream.flush()
            return
        self._pending.append(text)
        if self._writer is None:
            self._start_writer()
        elif len(self._pending) >= _FLUSH_LINES:
            self._wake.set()

    def _start_writer(self) -> None:
        _BUFFERING.add(self)
        self._writer = threading.Thread(
            target=self._write_periodically, name="cardcash-access-log", daemon=True
        )
        self._writer.start()

    def _write_periodically(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a broken stream must not end the writer
                if logging.raiseExceptions:
                    traceback.print_exc()

    def _write_pending(self) -> bool:
        """Write the waiting lines (under the lock); whether there were any."""
        pending = self._pending
        count = len(pending)  # lines appended meanwhile wait for the next write
        if not count:
            return False
        self.stream.write("".join([pending.popleft() for _ in range(count)]))
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if self._pending:
            self._write_pending()  # the lines before this record come first
        super().emit(record)

    def flush(self) -> None:
        with self.lock:
            if self.stream is not None:
                self._write_pending()
                if hasattr(self.stream, "flush"):
                    self.stream.flush()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        try:
            self.flush()
        finally:
            super().close()


ACCESS_LOGGER = "cardcash.access"
_access = logging.getLogger(ACCESS_LOGGER)


def log_access(level: int, message: str, fields: dict[str, Any]) -> None:
    """Log one access line on ``cardcash.access``, as ``logger.log(level, message,
    extra=fields)`` would, at a fraction of its cost: the production handler
    (:class:`JsonLineHandler` with its own filters) gets the fields themselves, and a
    ``LogRecord`` is made only for any other handler on the way (a test's, a text one)."""
    logger = _access
    if not logger.isEnabledFor(level):
        return
    if logger.filters:
        logger.log(level, message, extra=fields)
        return
    record: logging.LogRecord | None = None
    found = False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            found = True
            if level < handler.level:
                continue
            if type(handler) is JsonLineHandler and handler.filters == handler.own_filters:
                handler.write_access(level, message, fields)
                continue
            if record is None:
                record = logger.makeRecord(
                    logger.name, level, __file__, 0, message, (), None, extra=fields
                )
            handler.handle(record)
        if not current.propagate:
            break
        current = current.parent
    if not found and logging.lastResort is not None and level >= logging.lastResort.level:
        logging.lastResort.handle(
            logger.makeRecord(logger.name, level, __file__, 0, message, (), None, extra=fields)
        )


def flush() -> None:
    """Write every access line still waiting in a buffer (at shutdown: uvicorn ends the
    process with the signal it got, so exit handlers may never run)."""
    for handler in list(_BUFFERING):
        handler.flush()


def build_handler(stream=None, fmt: str = "json", flush_seconds: float = 0.0) -> logging.Handler:
    """The one log handler: a stream of JSON (or text) lines behind both filters.

    ``flush_seconds``: how long access lines may wait to be written together (JSON only;
    0 writes each at once)."""
    if fmt == "json":
        return JsonLineHandler(stream, flush_seconds)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactFilter())
    return handler


def logging_config(
    level: str = "INFO", fmt: str = "json", flush_seconds: float = 0.0
) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dictionary around :func:`build_handler`.

    JSON lines come from :class:`JsonLineFormatter` (``time``, ``level``, ``logger``, ``message``,
    ``request_id``, ``user_id`` and any ``extra`` fields). uvicorn's access log is left off:
    the request middleware writes one richer line per request instead (:func:`log_access`),
    in batches every ``flush_seconds``.
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
                "flush_seconds": flush_seconds,
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(level: str = "INFO", fmt: str = "json", flush_seconds: float = 0.0) -> None:
    """Apply :func:`logging_config` to this process."""
    logging.config.dictConfig(logging_config(level, fmt, flush_seconds))
