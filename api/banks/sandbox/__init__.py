"""Simulated banks for development, demos and tests: the six banks of the launch catalog.

They are simulators (:func:`~providers.base.simulator`): off in production unless
``CARDCASH_SIMULATED_BANKS=true``, and replaced by a real plugin of the same bank code. Each is
a :class:`SandboxBank` driven by its data file in ``banks/`` and keeps its state in
its own SQLite file under the provider data directory (never in cardcash's database). The
module-level factories are what the ``cardcash.banks`` entry points name.

Example::

    from api.banks.sandbox import CEB
    bank = CEB(ProviderContext("CEB", Path("var/banks"), {"latency_ms": "0"}))
"""

from __future__ import annotations

from api.banks.sandbox.bank import MAX_WRONG_CODES, VERIFICATION_CODE, SandboxBank
from api.banks.sandbox.callbacks import (
    SECRET_FILE,
    SIGNATURE_HEADER,
    callback_secret,
    callback_signer,
    sign_callback,
)
from providers.base import ProviderContext, simulator

#: Codes of the sandbox banks, as in the product catalog.
SANDBOX_BANKS = ("NBBANK", "CEB", "SPABANK", "HXBANK", "SPDB", "CITIC")


@simulator
def NBBANK(context: ProviderContext) -> SandboxBank:  # noqa: N802 - named as the bank code
    """宁波银行 Bank of Ningbo (sandbox)."""
    return SandboxBank.from_data_file("NBBANK", context)


@simulator
def CEB(context: ProviderContext) -> SandboxBank:  # noqa: N802 - named as the bank code
    """光大银行 China Everbright Bank (sandbox)."""
    return SandboxBank.from_data_file("CEB", context)


@simulator
def SPABANK(context: ProviderContext) -> SandboxBank:  # noqa: N802 - named as the bank code
    """平安银行 Ping An Bank (sandbox)."""
    return SandboxBank.from_data_file("SPABANK", context)


@simulator
def HXBANK(context: ProviderContext) -> SandboxBank:  # noqa: N802 - named as the bank code
    """华夏银行 Hua Xia Bank (sandbox)."""
    return SandboxBank.from_data_file("HXBANK", context)


@simulator
def SPDB(context: ProviderContext) -> SandboxBank:  # noqa: N802 - named as the bank code
    """浦发银行 Shanghai Pudong Development Bank (sandbox)."""
    return SandboxBank.from_data_file("SPDB", context)


@simulator
def CITIC(context: ProviderContext) -> SandboxBank:  # noqa: N802 - named as the bank code
    """中信银行 China CITIC Bank (sandbox)."""
    return SandboxBank.from_data_file("CITIC", context)


__all__ = [
    "CEB",
    "CITIC",
    "HXBANK",
    "MAX_WRONG_CODES",
    "NBBANK",
    "SANDBOX_BANKS",
    "SECRET_FILE",
    "SIGNATURE_HEADER",
    "SPABANK",
    "SPDB",
    "VERIFICATION_CODE",
    "SandboxBank",
    "callback_secret",
    "callback_signer",
    "sign_callback",
]
