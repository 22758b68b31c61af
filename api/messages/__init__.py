"""What users read, in zh-CN and en: one catalog per language (``zh-CN.json``, ``en.json``).

A catalog maps stable keys to templates with ``{named}`` placeholders. Keys:

- ``<CODE>``: the sentence for an error code (:class:`api.services.errors.ErrorCode`), and
  ``<CODE>.<reason>`` for a more precise one;
- ``failure.<CODE>``: why a withdrawal failed, shown as its ``failureReason``;
- ``disclosure.*``: the parts of the disclosure a user accepts with a withdrawal;
- ``data_sharing.*``: the consent to share personal information with the bank.

The request's ``Accept-Language`` picks the language (:func:`pick_language`); zh-CN when it
names neither, since the channels' users read Chinese. Codes stay English.
"""

from __future__ import annotations

import functools
import json
import logging
import string
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from api.headers import weighted

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

_HERE = Path(__file__).resolve().parent
log = logging.getLogger("cardcash.messages")


@functools.cache
def catalog(language: str) -> dict[str, str]:
    """The catalog of one of :data:`LANGUAGES`."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for {language!r}")
    return json.loads((_HERE / f"{language}.json").read_text(encoding="utf-8"))


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a template fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def has(key: str) -> bool:
    return key in catalog(DEFAULT_LANGUAGE)


@dataclass(frozen=True, slots=True)
class Named:
    """A name users read in their language: a bank's 光大银行 / China Everbright Bank."""

    zh: str
    en: str

    def __str__(self) -> str:
        return self.zh


def _shown(value: object, language: str) -> str:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, Named):
        return value.en if language == "en" else value.zh
    return str(value)


def text(key: str, language: str = DEFAULT_LANGUAGE, /, **params: object) -> str:
    """The message ``key`` in ``language``, its placeholders filled from ``params``."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    template = catalog(language)[key]
    return template.format_map(
        {name: _shown(params[name], language) for name in placeholders(template)}
    )


def failure_text(code: str | None, language: str = DEFAULT_LANGUAGE) -> str:
    """Why a withdrawal failed, for the user: ``failure.<CODE>``, else the code's message,
    else the bank's refusal (a failure without a known code is the bank's)."""
    for key in (f"failure.{code}", code):
        if key and has(key):
            return text(key, language)
    return text("failure.BANK_DECLINED", language)


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct values
def pick_language(accept_language: str | None) -> str:
    """The catalog an ``Accept-Language`` value prefers; zh-CN when it names none we have.

    Any Chinese tag (zh, zh-CN, zh-Hans, zh-TW...) reads zh-CN, any English one en; the
    highest ``q`` wins, the first listed among equals.
    """
    if not accept_language:
        return DEFAULT_LANGUAGE
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for tag, q in weighted(accept_language, most=20):
        language = {"zh": "zh-CN", "en": "en"}.get(tag.split("-", 1)[0])
        if language is None:
            continue
        if q > best_q:
            best, best_q = language, q
    return best
