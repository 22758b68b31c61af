"""``cardcash plugins``: the installed bank plugins, their versions, status and health."""

from __future__ import annotations

import asyncio

from api.runtime import registry_for, simulated_banks_warning
from api.settings import Settings

#: The columns of ``cardcash plugins``, in order.
PLUGIN_COLUMNS = ("CODE", "NAME", "VERSION", "SDK", "DISTRIBUTION", "STATUS")


async def describe_plugins(settings: Settings) -> tuple[list[tuple[str, ...]], str | None]:
    """One row per plugin, with the values of :data:`PLUGIN_COLUMNS` ("-" where a plugin was
    never created; status with health for loaded ones), and the warning to show when
    simulated banks would serve."""
    registry = registry_for(settings)
    try:
        health = await asyncio.wait_for(registry.health(), timeout=10)
        rows = []
        for info in sorted(registry.plugins, key=lambda p: p.code):
            status = info.status.value
            if info.reason:
                status += f": {info.reason}"
            elif info.code in health:
                h = health[info.code]
                status += ", healthy" if h.ok else f", unhealthy: {h.detail}"
                if info.simulated:
                    status += ", SIMULATED: moves no money"
            distribution = info.distribution or "-"
            if info.distribution and info.distribution_version:
                distribution += f" {info.distribution_version}"
            rows.append((info.code, info.name or "-", info.version or "-",
                         info.sdk_version or "-", distribution, status))
        return rows, simulated_banks_warning(registry, settings)
    finally:
        await registry.aclose()
