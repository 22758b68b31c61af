"""``cardcash plugins``: the installed bank plugins, their versions, status and health."""

from __future__ import annotations

import asyncio

from api.runtime import registry_for, simulated_banks_warning
from api.settings import Settings


async def describe_plugins(settings: Settings) -> tuple[list[tuple[str, str, str]], str | None]:
    """One row per plugin (code, version, and status with health for loaded ones), and the
    warning to show when simulated banks would serve."""
    registry = registry_for(settings)
    try:
        health = await asyncio.wait_for(registry.health(), timeout=10)
        rows = []
        for info in sorted(registry.plugins, key=lambda p: p.code):
            version = f"{info.version or '?'} (sdk {info.sdk_version or '?'})"
            status = info.status.value
            if info.reason:
                status += f": {info.reason}"
            elif info.code in health:
                h = health[info.code]
                status += ", healthy" if h.ok else f", unhealthy: {h.detail}"
                if info.simulated:
                    status += ", SIMULATED: moves no money"
            source = info.distribution or ""
            rows.append((info.code, version, f"{status}  [{source}]" if source else status))
        return rows, simulated_banks_warning(registry, settings)
    finally:
        await registry.aclose()
