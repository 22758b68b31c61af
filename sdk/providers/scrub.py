"""The one redactor: card numbers, tokens, keys and codes out of text that may be kept or logged.

A provider's exception message or traceback can contain anything a bank's API echoed back,
including a full card number (PAN). Before the guard logs such text it passes it through
:func:`scrub_card_numbers`, which keeps only the last four digits of every digit run that could
be a PAN. :func:`redact` does that and removes every other secret-looking value too (tokens,
keys, signatures, login and verification codes, URL query strings): the service's log
filter runs every record through it, the HTTP client loggers included. Text that is kept and
shown to operators uses the stricter :func:`mask_card_numbers`.
"""

from __future__ import annotations

import re

# 12 to 19 digits, optionally grouped by single spaces or dashes ("6222 0212 3456 7890"):
# the lengths of card numbers in use. Shorter runs (amounts, dates, ids) are left alone.
_PAN_LIKE = re.compile(r"(?<![0-9])(?:[0-9][ -]?){11,18}[0-9](?![0-9])")


def scrub_card_numbers(text: str) -> str:
    """Replace every card-number-like digit run in ``text`` by a mask with its last four digits.

    Example::

        >>> scrub_card_numbers("card 6222 0212 3456 7890 declined, amount 500.00")
        'card ****7890 declined, amount 500.00'
    """

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9]", "", match.group(0))
        return "****" + digits[-4:]

    return _PAN_LIKE.sub(mask, text)


REDACTED = "[REDACTED]"

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
# A URL's query string: WeChat's jscode2session is a GET that carries the app secret and the
# user's code there, and HTTP clients log request URLs.
_URL_QUERY = re.compile(r"(?P<base>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*")

# What every pattern above needs at least: a key-value separator (secret and code pairs, and
# the scheme of a URL), a JWT's header, the word bearer, or four digits in a row with at most
# one space or dash between each (card numbers, verification codes). Text without any of them
# is clean, and most log text is: one scan instead of seven.
_MAYBE_SECRET = re.compile(r"[:=]|eyJ|(?i:bearer)|\d[ -]?\d[ -]?\d[ -]?\d")

#: Every pattern :func:`redact` applies (for tests of the quick check above).
PATTERNS = (_JWT, _BEARER, _SECRET_PAIR, _CODE_PAIR, _VERIFICATION, _URL_QUERY, _PAN_LIKE)


def may_hold_secrets(text: str) -> bool:
    """False when :func:`redact` would leave ``text`` as it is, by one quick scan (True does
    not mean it holds one)."""
    return bool(_MAYBE_SECRET.search(text))


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced, card numbers to their last four.

    Example::

        >>> redact("card 6225 8801 2345 6789 token=abc.def")
        'card ****6789 token=[REDACTED]'
    """
    if not text or not _MAYBE_SECRET.search(text):
        return text
    text = _URL_QUERY.sub(r"\g<base>?" + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub("Bearer " + REDACTED, text)
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    text = _CODE_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    text = _VERIFICATION.sub(lambda m: m.group(1) + REDACTED, text)
    return scrub_card_numbers(text)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_numbers(text: str):
    for match in _PAN_LIKE.finditer(text):
        digits = re.sub(r"[^0-9]", "", match.group(0))
        if len(digits) >= 13 and _luhn_valid(digits):
            yield match, digits


def mask_card_numbers(text: str) -> str:
    """Mask, to their last four digits, the digit runs :func:`contains_card_number` finds.

    For text that is kept and shown (a bank's failure reason): a reference or amount that is
    not a card number stays readable, unlike with :func:`scrub_card_numbers`.

    Example::

        >>> mask_card_numbers("card 4111-1111-1111-1111 refused, ref 20261207000123")
        'card ****1111 refused, ref 20261207000123'
    """
    out, end = [], 0
    for match, digits in _card_numbers(text):
        out += [text[end : match.start()], "****" + digits[-4:]]
        end = match.end()
    return "".join(out) + text[end:] if out else text


def contains_card_number(text: str) -> bool:
    """True when ``text`` contains what is very likely a full card number.

    Stricter than the masking of :func:`scrub_card_numbers` (which errs on masking too much):
    a run of 13 to 19 digits, optionally grouped, that passes the Luhn check every issued card
    number passes. Used to refuse a provider answer that would make cardcash store a PAN.

    Example::

        >>> contains_card_number("token 4111 1111 1111 1111"), contains_card_number("2026")
        (True, False)
    """
    return next(_card_numbers(text), None) is not None
