"""Discovery and loading of the installed bank provider plugins.

A plugin is found through the ``cardcash.banks`` entry-point group; the entry point's name is
the bank code. :func:`load_providers` creates every plugin the configuration allows, checks it
(SDK version, type, code), wraps it in a :class:`~api.banks.guard.GuardedProvider`, and records
why any plugin was refused. One broken plugin never stops the others from loading.

Example::

    registry = load_providers(
        enabled=None,                      # None: every installed plugin
        blocked=["HXBANK"],
        data_dir=Path("var/banks"),
        options={"*": {"latency_ms": "0"}, "CEB": {"guard_read_timeout_s": "3"}},
    )
    ceb = registry.get("CEB")
    for info in registry.plugins:          # what `cardcash plugins` prints
        print(info.code, info.status, info.reason)
    await registry.aclose()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from api.banks.guard import BreakerObserver, CallObserver, GuardedProvider, GuardSettings
from providers.base import BankProvider, ProviderContext
from providers.compat import (
    PluginRefused,
    check_sdk_compatible,
    check_sdk_supported,
)
from providers.files import private_dir
from providers.types import Health

#: The entry-point group bank plugins register in.
ENTRY_POINT_GROUP = "cardcash.banks"

_log = logging.getLogger("cardcash.providers")
# Strong references to close tasks of refused plugins, so they are not garbage-collected.
_closing: set[asyncio.Task[None]] = set()


class PluginStatus(StrEnum):
    """What became of an installed (or configured) plugin."""

    LOADED = "loaded"
    BLOCKED = "blocked"
    """Left out by configuration (``blocked``, or not in ``enabled``)."""
    REFUSED = "refused"
    """Could not be loaded or broke a rule; ``reason`` says which."""


@dataclass(frozen=True)
class PluginInfo:
    """A plain description of one plugin, for ``cardcash plugins`` and operators.

    ``name``, ``version`` and ``sdk_version`` are None when the plugin was never created.
    ``distribution`` is the installed package that declared the entry point.
    """

    code: str
    status: PluginStatus
    reason: str = ""
    entry_point: str = ""
    name: str | None = None
    version: str | None = None
    sdk_version: str | None = None
    distribution: str | None = None
    distribution_version: str | None = None
    simulated: bool = False
    """A simulated bank (see :func:`providers.base.simulator`): it moves no money."""

    def to_dict(self) -> dict[str, Any]:
        """The description as JSON-ready values."""
        data = asdict(self)
        data["status"] = self.status.value
        return data


def bank_options(options: Mapping[str, Mapping[str, str]], code: str) -> dict[str, str]:
    """The options of one bank: those under ``"*"``, overridden by those under its code."""
    return {**options.get("*", {}), **options.get(code, {})}


class Registry:
    """The loaded bank providers, each behind its guard, and what happened to the others.

    Iterating yields the loaded :class:`GuardedProvider` objects in code order.
    """

    def __init__(self, providers: Mapping[str, GuardedProvider], plugins: Iterable[PluginInfo]):
        self._providers = dict(sorted(providers.items()))
        self.plugins: list[PluginInfo] = sorted(plugins, key=lambda info: info.code)
        """One description per installed or configured plugin, in code order."""

    def get(self, code: str) -> GuardedProvider | None:
        """The guarded provider of bank ``code``, or None when it is not loaded."""
        return self._providers.get(code)

    def __iter__(self) -> Iterator[GuardedProvider]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)

    def __contains__(self, code: object) -> bool:
        return code in self._providers

    def info(self, code: str) -> PluginInfo | None:
        """What became of bank ``code``'s plugin, or None when none is installed or configured."""
        return next((info for info in self.plugins if info.code == code), None)

    @property
    def codes(self) -> list[str]:
        """Codes of the loaded banks."""
        return list(self._providers)

    @property
    def simulated(self) -> list[str]:
        """Codes of the loaded banks that are simulators: they move no money."""
        return [
            p.code for p in self.plugins if p.status is PluginStatus.LOADED and p.simulated
        ]

    @property
    def failures(self) -> dict[str, str]:
        """Bank code → why its plugin was refused."""
        return {p.code: p.reason for p in self.plugins if p.status is PluginStatus.REFUSED}

    async def health(self) -> dict[str, Health]:
        """The health of every loaded bank, checked concurrently (never raises)."""
        checks = await asyncio.gather(*(provider.health() for provider in self))
        return dict(zip(self._providers, checks, strict=True))

    async def aclose(self) -> None:
        """Close every loaded provider (failures are logged, not raised)."""
        await asyncio.gather(*(provider.aclose() for provider in self))


def load_providers(
    *,
    enabled: list[str] | None,
    blocked: list[str],
    data_dir: Path,
    options: Mapping[str, Mapping[str, str]],
    on_call: CallObserver | None = None,
    on_breaker_change: BreakerObserver | None = None,
    clock: Any = time.monotonic,
    discovered: Iterable[EntryPoint] | None = None,
    simulated: bool = True,
) -> Registry:
    """Find, create, check and guard the bank plugins.

    ``enabled`` pins the set of banks (None: all installed); ``blocked`` removes banks even
    when enabled. ``options`` are keyed by bank code, ``"*"`` applying to every bank; besides
    the plugin's own options they carry the guard's (see :class:`GuardSettings`).
    ``data_dir`` is created if needed (owner-only) and handed to every plugin. ``discovered``
    replaces entry-point discovery (for tests and embedding).

    Simulated banks (:func:`providers.base.simulator`) are created only with ``simulated``
    true (production turns it off), and a real plugin declaring the same code replaces a
    simulator: it is loaded, and the simulator is listed as blocked, saying by which plugin.
    """
    private_dir(data_dir)
    found = list(entry_points(group=ENTRY_POINT_GROUP) if discovered is None else discovered)
    by_code: dict[str, list[EntryPoint]] = {}
    for entry_point in found:
        by_code.setdefault(entry_point.name, []).append(entry_point)

    providers: dict[str, GuardedProvider] = {}
    plugins: list[PluginInfo] = []
    blocked_set = set(blocked)
    for code, candidates in by_code.items():
        base = _describe(code, candidates[0])
        if code in blocked_set:
            plugins.append(
                _with(base, status=PluginStatus.BLOCKED, reason="blocked by configuration")
            )
            continue
        if enabled is not None and code not in enabled:
            plugins.append(
                _with(base, status=PluginStatus.BLOCKED, reason="not in the enabled list")
            )
            continue
        if len(candidates) > 1:
            real = [ep for ep in candidates if not _is_simulator(ep)]
            if len(real) == 1:
                # A real plugin of a bank replaces its simulator: the bank's money goes
                # through the plugin its operator installed for it.
                for shadowed in candidates:
                    if shadowed is not real[0]:
                        plugins.append(_with(
                            _describe(code, shadowed), status=PluginStatus.BLOCKED,
                            simulated=True,
                            reason=f"simulated bank replaced by {_source(real[0])}",
                        ))
                candidates = real
                base = _describe(code, real[0])
            else:
                # Two real packages claim the same bank: loading either could route money to
                # the wrong code, so neither is loaded until the operator uninstalls one.
                sources = ", ".join(sorted(_source(ep) for ep in candidates))
                plugins.append(
                    _with(base, status=PluginStatus.REFUSED,
                          reason=f"bank code {code} is declared by several plugins: {sources}")
                )
                continue
        if _is_simulator(candidates[0]):
            base = _with(base, simulated=True)
            if not simulated:
                plugins.append(_with(
                    base, status=PluginStatus.BLOCKED,
                    reason="simulated bank, off in production (CARDCASH_SIMULATED_BANKS=true "
                    "serves it)",
                ))
                continue
        try:
            settings = GuardSettings.from_options(bank_options(options, code))
        except ValueError as error:
            reason = f"plugin {_source(candidates[0])} has invalid guard options: {error}"
            _log.error("bank plugin refused: %s", reason)
            plugins.append(_with(base, status=PluginStatus.REFUSED, reason=reason))
            continue
        try:
            provider = _create(code, candidates[0], data_dir, bank_options(options, code))
        except PluginRefused as refusal:
            _log.error("bank plugin refused: %s", refusal)
            plugins.append(_with(base, status=PluginStatus.REFUSED, reason=str(refusal)))
            continue
        providers[code] = GuardedProvider(
            provider, settings,
            logger=logging.getLogger(f"cardcash.providers.{code}"),
            clock=clock, on_call=on_call, on_breaker_change=on_breaker_change,
        )
        plugins.append(
            _with(base, status=PluginStatus.LOADED, name=provider.name,
                  version=provider.version, sdk_version=provider.sdk_version)
        )
    for code in enabled or ():
        if code not in by_code and code not in blocked_set:
            plugins.append(
                PluginInfo(code=code, status=PluginStatus.REFUSED,
                           reason=f"bank {code} is enabled but no installed plugin declares it")
            )
    return Registry(providers, plugins)


def _create(
    code: str, entry_point: EntryPoint, data_dir: Path, options: Mapping[str, str]
) -> BankProvider:
    source = _source(entry_point)
    try:
        factory = entry_point.load()
    except Exception as error:  # noqa: BLE001 - any import failure refuses only this plugin
        raise PluginRefused(f"plugin {source} could not be imported: {error!r}") from None
    # A provider class states its SDK version before it is created: check it first, so an
    # incompatible plugin never runs any code against our data directory.
    if isinstance(factory, type) and hasattr(factory, "sdk_version"):
        check_sdk_compatible(source, factory.sdk_version)
        check_sdk_supported(source, getattr(factory, "sdk_supported", ""))
    context = ProviderContext(
        bank_code=code, data_dir=data_dir, options=dict(options),
        logger=logging.getLogger(f"cardcash.providers.{code}"),
    )
    try:
        provider = factory(context)
    except Exception as error:  # noqa: BLE001 - a failing factory refuses only this plugin
        raise PluginRefused(f"plugin {source} failed to start: {error!r}") from None
    try:
        if not isinstance(provider, BankProvider):
            raise PluginRefused(
                f"plugin {source} returned {type(provider).__name__}, not a BankProvider"
            )
        if provider.code != code:
            raise PluginRefused(
                f"plugin {source} is registered as {code} but its provider says code "
                f"{provider.code!r}"
            )
        check_sdk_compatible(source, getattr(provider, "sdk_version", None))
        check_sdk_supported(source, getattr(provider, "sdk_supported", ""))
    except PluginRefused:
        _close_quietly(provider)
        raise
    return provider


def _is_simulator(entry_point: EntryPoint) -> bool:
    """Whether the entry point names a simulator; one that cannot be imported is taken for a
    real plugin (and is refused, with the reason, when it is loaded)."""
    try:
        factory = entry_point.load()
    except Exception:  # noqa: BLE001 - reported by _create
        return False
    return getattr(factory, "simulated", False) is True


def _close_quietly(provider: Any) -> None:
    """Best-effort close of a provider that will not be used (no loop may be running)."""
    close = getattr(provider, "aclose", None)
    if close is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        if loop is None:
            asyncio.run(close())
        else:
            task = loop.create_task(close())
            _closing.add(task)
            task.add_done_callback(_closing.discard)
    except Exception:  # noqa: BLE001 - the plugin is already refused; closing is a courtesy
        _log.warning("could not close refused bank plugin %r", provider, exc_info=False)


def _source(entry_point: EntryPoint) -> str:
    dist = entry_point.dist
    where = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"{entry_point.name} ({entry_point.value}{where})"


def _describe(code: str, entry_point: EntryPoint) -> PluginInfo:
    dist = entry_point.dist
    return PluginInfo(
        code=code,
        status=PluginStatus.REFUSED,
        entry_point=entry_point.value,
        distribution=dist.name if dist is not None else None,
        distribution_version=dist.version if dist is not None else None,
    )


def _with(info: PluginInfo, **changes: Any) -> PluginInfo:
    return PluginInfo(**{**asdict(info), **changes})
