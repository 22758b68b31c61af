"""GraphiQL's vendored files: downloaded only with the locked hashes, checked again at start-up,
served with the page's pins; prod serves neither the page nor the files."""

from __future__ import annotations

import io
import json
import tarfile

import httpx
import pytest

from api import vendor
from api.http.pages import GraphiQLPage

BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A lock over one package served by a local stand-in registry; returns (lock, tarballs)."""
    js = b"window.Lib = 1;\n"
    tarball = _tarball({"dist/lib.min.js": js, "README.md": b"lib"})
    lock = {
        "packages": {"lib": {"version": "1.0.0", "integrity": vendor.integrity(tarball, "sha512")}},
        "files": {
            "lib.min.js": {
                "package": "lib",
                "path": "dist/lib.min.js",
                "integrity": vendor.integrity(js, "sha384"),
            }
        },
    }
    lock_path = tmp_path / "vendor.lock.json"
    lock_path.write_text(json.dumps(lock))
    served = {"/lib/-/lib-1.0.0.tgz": tarball}
    requests: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        body = served.get(request.url.path)
        return httpx.Response(200, content=body) if body else httpx.Response(404)

    monkeypatch.setenv("CARDCASH_NPM_REGISTRY", "http://registry.test/")
    client = httpx.Client(transport=httpx.MockTransport(answer))
    return lock_path, served, requests, client


def test_fetch_installs_the_locked_files_once(registry, tmp_path):
    lock_path, _served, requests, client = registry
    target = tmp_path / "vendor"
    assert vendor.fetch(target, lock_path, client=client) == ["lib.min.js"]
    assert requests == ["/lib/-/lib-1.0.0.tgz"]
    assert (target / "lib.min.js").read_bytes() == b"window.Lib = 1;\n"
    assert vendor.fetch(target, lock_path, client=client) == []  # intact: not downloaded again
    assert len(requests) == 1
    assert vendor.load(target, lock_path)["lib.min.js"].integrity.startswith("sha384-")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-1] + bytes([t[-1] ^ 1]), id="one-byte-changed"),
        pytest.param(lambda t: t + b"\0", id="appended"),
        pytest.param(lambda t: _tarball({"dist/lib.min.js": b"alert(1)"}), id="other-package"),
    ],
)
def test_a_tarball_that_is_not_the_locked_one_is_refused(registry, tmp_path, tamper):
    lock_path, served, _requests, client = registry
    served["/lib/-/lib-1.0.0.tgz"] = tamper(served["/lib/-/lib-1.0.0.tgz"])
    target = tmp_path / "vendor"
    with pytest.raises(vendor.VendorError, match="integrity mismatch"):
        vendor.fetch(target, lock_path, client=client)
    assert not any(target.iterdir())


def test_a_registry_that_has_not_the_version_is_an_error(registry, tmp_path):
    lock_path, served, _requests, client = registry
    served.clear()
    with pytest.raises(vendor.VendorError, match="answered 404"):
        vendor.fetch(tmp_path / "vendor", lock_path, client=client)


def test_a_file_altered_on_disk_is_replaced_by_fetch_and_refused_by_load(registry, tmp_path):
    lock_path, _served, requests, client = registry
    target = tmp_path / "vendor"
    vendor.fetch(target, lock_path, client=client)
    (target / "lib.min.js").write_bytes(b"window.Lib = 'changed';\n")
    with pytest.raises(vendor.VendorError, match="integrity mismatch"):
        vendor.load(target, lock_path)
    assert vendor.fetch(target, lock_path, client=client) == ["lib.min.js"]
    assert len(requests) == 2
    vendor.load(target, lock_path)


def test_the_committed_lock_pins_every_file_the_page_loads():
    spec = vendor.lock()
    html = (vendor.STATIC_DIR / "graphiql.html").read_text()
    for name, entry in spec["files"].items():
        assert "{" + name + "}" in html, f"{name} is locked but the page does not load it"
        assert entry["integrity"].startswith("sha384-")
        assert spec["packages"][entry["package"]]["integrity"].startswith("sha512-")


def test_without_the_files_graphiql_says_how_to_install_them(tmp_path):
    page = GraphiQLPage(tmp_path / "nothing-here")
    response = page.response()
    assert response.status_code == 503
    assert b"cardcash assets" in response.body


async def test_dev_serves_the_page_and_files_prod_neither(serve):
    if vendor.VENDOR_DIR.joinpath("graphiql.min.js").exists():
        async with serve(env="dev") as dev:
            page = await dev.get("/graphql", headers={"accept": BROWSER})
            assert page.status_code == 200
            assert "script-src 'self'" in page.headers["content-security-policy"]
            css = await dev.get("/static/graphiql/graphiql.min.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            assert (await dev.get("/static/graphiql/../vendor.lock.json")).status_code == 404
    async with serve(env="prod") as prod:
        page = await prod.get("/graphql", headers={"accept": BROWSER})
        assert page.status_code == 400 and "text/html" not in page.headers["content-type"]
        for name in ("graphiql.min.js", "graphiql-start.js"):
            assert (await prod.get(f"/static/graphiql/{name}")).status_code == 404
