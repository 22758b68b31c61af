"""GraphiQL's browser files, pinned and integrity checked, kept next to the code.

``api/static/vendor.lock.json`` names each npm package (version and the SHA-512 ``integrity``
an npm lockfile would hold) and each file cardcash serves from it (path in the tarball and its
SHA-384). :func:`fetch` downloads the tarballs once, at install time (``cardcash assets``, run
by ``make install``), checks both hashes and writes the files into ``api/static/vendor/``.
:func:`load` reads them back at start-up and checks them again, so a page is only ever served
with the exact bytes the lock names, and nothing is fetched from a CDN when a page loads.

The registry is the one npm is configured with (``CARDCASH_NPM_REGISTRY``, then npm's own
``npm_config_registry`` / ``.npmrc`` / ``npm config get registry``), so a mirror works as it
does for npm.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

STATIC_DIR = Path(__file__).resolve().parent / "static"
LOCK_FILE = STATIC_DIR / "vendor.lock.json"
VENDOR_DIR = STATIC_DIR / "vendor"


class VendorError(RuntimeError):
    """A vendored file is missing, or its bytes are not the ones the lock names."""


@dataclass(frozen=True)
class Asset:
    """One served file: its bytes, media type and subresource-integrity value."""

    name: str
    body: bytes
    integrity: str

    @property
    def media_type(self) -> str:
        return "text/css" if self.name.endswith(".css") else "text/javascript"


def lock(path: Path = LOCK_FILE) -> dict:
    """The committed lock: ``{"packages": {...}, "files": {...}}``."""
    return json.loads(path.read_text(encoding="utf-8"))


def integrity(data: bytes, algorithm: str) -> str:
    """A subresource-integrity string (``sha512-<base64>``) of ``data``."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def _check(data: bytes, expected: str, what: str) -> None:
    algorithm = expected.split("-", 1)[0]
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise VendorError(f"{what}: unsupported integrity algorithm {algorithm!r}")
    actual = integrity(data, algorithm)
    if actual != expected:
        raise VendorError(f"{what}: integrity mismatch (expected {expected}, got {actual})")


def registry_url() -> str:
    """The npm registry to download from, as npm itself would pick it."""
    for name in ("CARDCASH_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY"):
        if value := os.environ.get(name, "").strip():
            return value.rstrip("/")
    npmrc = Path.home() / ".npmrc"
    if npmrc.exists():
        for line in npmrc.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "registry" and value.strip():
                return value.strip().rstrip("/")
    if npm := shutil.which("npm"):
        try:
            out = subprocess.run(
                [npm, "config", "get", "registry"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.strip()
        except (subprocess.SubprocessError, OSError):
            out = ""
        if out.startswith(("http://", "https://")):
            return out.rstrip("/")
    raise VendorError(
        "no npm registry configured: install npm, or set CARDCASH_NPM_REGISTRY to the URL "
        "of the npm registry (or a mirror of it)"
    )


def tarball_url(registry: str, name: str, version: str) -> str:
    """Where the registry keeps a package's tarball (``<registry>/<name>/-/<base>-<v>.tgz``)."""
    base = name.rsplit("/", 1)[-1]
    return f"{registry}/{name}/-/{base}-{version}.tgz"


def fetch(
    target: Path = VENDOR_DIR, lock_path: Path = LOCK_FILE, *, client: httpx.Client | None = None
) -> list[str]:
    """Download, check and write every locked file that is not already there intact.

    Returns the names written. Raises :class:`VendorError` on any mismatch, leaving no partly
    written file behind.
    """
    spec = lock(lock_path)
    missing = [n for n in spec["files"] if not _intact(target / n, spec["files"][n]["integrity"])]
    if not missing:
        return []
    registry = registry_url()
    target.mkdir(parents=True, exist_ok=True)
    own = client is None
    client = client or httpx.Client(timeout=60, follow_redirects=True)
    try:
        for package in sorted({spec["files"][n]["package"] for n in missing}):
            pinned = spec["packages"][package]
            url = tarball_url(registry, package, pinned["version"])
            response = client.get(url)
            if response.status_code != 200:
                raise VendorError(f"{package}@{pinned['version']}: {url} answered {response.status_code}")
            _check(response.content, pinned["integrity"], f"{package}@{pinned['version']} tarball")
            with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
                for name in missing:
                    entry = spec["files"][name]
                    if entry["package"] != package:
                        continue
                    member = tar.extractfile(f"package/{entry['path']}")
                    if member is None:
                        raise VendorError(f"{package}: no file {entry['path']} in the tarball")
                    data = member.read()
                    _check(data, entry["integrity"], name)
                    tmp = target / f".{name}.tmp"
                    tmp.write_bytes(data)
                    tmp.replace(target / name)
    finally:
        if own:
            client.close()
    return missing


def _intact(path: Path, expected: str) -> bool:
    try:
        _check(path.read_bytes(), expected, path.name)
    except (OSError, VendorError):
        return False
    return True


def load(target: Path = VENDOR_DIR, lock_path: Path = LOCK_FILE) -> dict[str, Asset]:
    """Every locked file, read and checked. Raises :class:`VendorError` naming what is wrong."""
    assets = {}
    for name, entry in lock(lock_path)["files"].items():
        path = target / name
        try:
            data = path.read_bytes()
        except OSError:
            raise VendorError(f"{name} is not installed (run `cardcash assets`)") from None
        _check(data, entry["integrity"], name)
        assets[name] = Asset(name, data, entry["integrity"])
    return assets
