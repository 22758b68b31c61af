"""Failpoints: let a crash test kill the process at one exact place.

``CARDCASH_FAILPOINT=<name>`` makes :func:`hit` end the process abruptly (no cleanup, no
commit) when execution reaches ``<name>``. Unset, it costs one dictionary lookup.
"""

from __future__ import annotations

import os

_ACTIVE = os.environ.get("CARDCASH_FAILPOINT", "")


def hit(name: str) -> None:
    if _ACTIVE and _ACTIVE == name:
        os._exit(75)
