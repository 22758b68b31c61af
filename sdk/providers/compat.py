"""Whether a plugin's declared SDK can be served by this SDK.

cardcash refuses, with a reason naming both versions, a plugin written for an SDK it does not
provide (:func:`check_sdk_compatible`) or one whose declared range leaves out its SDK
(:func:`check_sdk_supported`); the conformance kit applies the same checks, so a plugin that
passes the kit is not refused for its SDK by the service it is tested against.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from providers.types import SDK_VERSION

_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.\d+)*$")


class PluginRefused(Exception):
    """Why a plugin cannot be served: the service records it and loads the others."""


def parse_sdk_version(version: str) -> tuple[int, int]:
    """``"1.0"`` → ``(1, 0)``; a bare major ``"1"`` means ``(1, 0)``.

    Raises ``ValueError`` for anything else.
    """
    match = _VERSION.match(version.strip()) if isinstance(version, str) else None
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    return int(match.group(1)), int(match.group(2) or 0)


def check_sdk_compatible(plugin: str, declared: Any, ours: str = SDK_VERSION) -> None:
    """Raise :class:`PluginRefused` unless a plugin for SDK ``declared`` runs on SDK ``ours``.

    Compatible means the same major version and a minor version not newer than ours: a plugin
    written for 1.0 runs on 1.3, one written for 1.3 may use what 1.0 lacks.
    """
    try:
        major, minor = parse_sdk_version(declared)
    except ValueError:
        raise PluginRefused(
            f"plugin {plugin} declares sdk_version {declared!r}, which is not a version"
        ) from None
    our_major, our_minor = parse_sdk_version(ours)
    if major != our_major or minor > our_minor:
        raise PluginRefused(
            f"plugin {plugin} was written for provider SDK {declared}; this cardcash provides "
            f"SDK {ours} (needs major {our_major} and minor <= {our_minor})"
        )


def check_sdk_supported(plugin: str, supported: Any, ours: str = SDK_VERSION) -> None:
    """Raise :class:`PluginRefused` unless SDK ``ours`` is in the plugin's declared range.

    ``supported`` is a PEP 440 specifier set (``">=1.1,<1.4"``); empty or None: no range.
    """
    if supported in (None, ""):
        return
    try:
        spec = SpecifierSet(supported)
    except (InvalidSpecifier, TypeError):
        raise PluginRefused(
            f"plugin {plugin} declares sdk_supported {supported!r}, which is not a version "
            "range (write e.g. \">=1.1,<2\")"
        ) from None
    if not spec.contains(ours, prereleases=True):
        raise PluginRefused(
            f"plugin {plugin} supports provider SDK {supported}; this cardcash provides SDK "
            f"{ours}: install a release of the plugin that supports SDK {ours}"
        )
