"""Masking of card numbers in text that may reach a log.

A provider's exception message or traceback can contain anything a bank's API echoed back,
including a full card number (PAN). Before the guard logs such text it passes it through
:func:`scrub_card_numbers`, which keeps only the last four digits of every digit run that could
be a PAN.
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
