"""Finding, checking and loading bank plugins through the ``cardcash.banks`` entry points."""

from __future__ import annotations

import logging
import textwrap
from importlib.metadata import EntryPoint

import pytest

from api.banks.registry import ENTRY_POINT_GROUP, PluginStatus, bank_options, load_providers
from api.banks.sandbox import SANDBOX_BANKS
from providers.compat import (
    PluginRefused,
    check_sdk_compatible,
    check_sdk_supported,
    parse_sdk_version,
)
from providers.types import SDK_VERSION

# A module of plugins, good and broken, written to a temporary directory on sys.path so that
# entry points can name it like an installed package.
FAKE_PLUGINS = textwrap.dedent(
    """
    from providers import BankProvider, ProviderContext, simulator

    CREATED = []
    CLOSED = []


    class Good(BankProvider):
        code = "GOOD"
        name = "Good Bank"
        version = "2.1.0"
        sdk_version = "1.0"

        def __init__(self, context: ProviderContext):
            self.context = context
            CREATED.append(self.code)

        async def list_cards(self, customer): return []
        async def verify_same_holder(self, customer, credit, debit): return False
        async def get_offer(self, customer, card_ref): raise NotImplementedError
        async def quote(self, request): raise NotImplementedError
        async def submit_withdrawal(self, request): raise NotImplementedError
        async def confirm_withdrawal(self, request): raise NotImplementedError
        async def cancel_withdrawal(self, request_id): raise NotImplementedError
        async def query_withdrawal(self, request_id): raise NotImplementedError
        def verify_callback(self, headers, body): raise NotImplementedError

        async def aclose(self):
            CLOSED.append(self.code)


    class Other(Good):
        code = "OTHER"


    class FromTheFuture(Good):
        code = "FUTURE"
        sdk_version = "1.7"


    class NextMajor(Good):
        code = "NEXTMAJOR"
        sdk_version = "2.0"


    class StopsAtTheLastRelease(Good):
        code = "PINNED"
        sdk_supported = ">=1.0,<1.1"


    class GarbledRange(Good):
        code = "GARBLED"
        sdk_supported = "one point oh"


    class WideRange(Good):
        code = "WIDE"
        sdk_supported = ">=1.0,<2"


    def future_instance(context):
        provider = Good(context)
        provider.code = "LATE"
        provider.sdk_version = "1.9"
        return provider


    def exploding(context):
        raise RuntimeError("cannot reach bank HSM")


    def not_a_provider(context):
        return object()


    @simulator
    def simulated_good(context):
        provider = Good(context)
        provider.name = "Good Bank (simulated)"
        return provider


    @simulator
    class SimulatedOther(Other):
        pass
    """
)


@pytest.fixture
def plugins_module(tmp_path, monkeypatch):
    """Import path of the fake plugins module."""
    name = f"fake_bank_plugins_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(FAKE_PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def entry(code: str, target: str) -> EntryPoint:
    return EntryPoint(code, target, ENTRY_POINT_GROUP)


def load(tmp_path, found, *, enabled=None, blocked=(), options=None, simulated=True):
    return load_providers(
        enabled=enabled, blocked=list(blocked), data_dir=tmp_path / "data",
        options=options or {}, discovered=found, simulated=simulated,
    )


def test_a_declared_sdk_range_is_checked_against_ours(tmp_path, plugins_module):
    check_sdk_supported("X", "", ours="1.1")
    check_sdk_supported("X", ">=1.1,<2", ours="1.1")
    with pytest.raises(PluginRefused, match="supports provider SDK >=1.2"):
        check_sdk_supported("X", ">=1.2", ours="1.1")
    registry = load(tmp_path, [entry("WIDE", f"{plugins_module}:WideRange")])
    assert registry.codes == ["WIDE"]


def test_sdk_versions_compare_by_major_and_minor():
    assert parse_sdk_version("1.0") == (1, 0)
    assert parse_sdk_version("1") == (1, 0)
    assert parse_sdk_version("1.2.3") == (1, 2)
    with pytest.raises(ValueError):
        parse_sdk_version("one")
    check_sdk_compatible("X", "1.0", ours="1.3")
    for declared in ("1.4", "2.0", "0.9"):
        with pytest.raises(Exception, match=f"written for provider SDK {declared}"):
            check_sdk_compatible("X", declared, ours="1.3")


async def test_a_good_plugin_is_loaded_behind_a_guard(tmp_path, plugins_module):
    registry = load(tmp_path, [entry("GOOD", f"{plugins_module}:Good")],
                    options={"*": {"region": "east"}, "GOOD": {"region": "north", "x": "1"}})
    guarded = registry.get("GOOD")
    assert guarded is not None and registry.codes == ["GOOD"] and "GOOD" in registry
    assert guarded.provider.context.options == {"region": "north", "x": "1"}
    assert guarded.provider.context.data_dir == tmp_path / "data"
    assert (tmp_path / "data").is_dir()
    assert await guarded.list_cards(None) == []
    [info] = registry.plugins
    assert info.to_dict() == {
        "code": "GOOD", "status": "loaded", "reason": "", "entry_point": f"{plugins_module}:Good",
        "name": "Good Bank", "version": "2.1.0", "sdk_version": "1.0",
        "distribution": None, "distribution_version": None, "simulated": False,
    }
    assert (await registry.health())["GOOD"].ok
    await registry.aclose()
    assert __import__(plugins_module).CLOSED == ["GOOD"]


@pytest.mark.parametrize(
    ("code", "target", "reason"),
    [
        ("FUTURE", "FromTheFuture",
         f"written for provider SDK 1.7; this cardcash provides SDK {SDK_VERSION}"),
        ("PINNED", "StopsAtTheLastRelease",
         f"supports provider SDK >=1.0,<1.1; this cardcash provides SDK {SDK_VERSION}: install"),
        ("GARBLED", "GarbledRange", "sdk_supported 'one point oh', which is not a version range"),
        ("NEXTMAJOR", "NextMajor", "written for provider SDK 2.0"),
        ("LATE", "future_instance", "written for provider SDK 1.9"),
        ("BOOM", "exploding", "failed to start: RuntimeError('cannot reach bank HSM')"),
        ("NOPE", "not_a_provider", "returned object, not a BankProvider"),
        ("CEB", "Other", "registered as CEB but its provider says code 'OTHER'"),
        ("GONE", "Missing", "could not be imported"),
    ],
)
def test_a_broken_plugin_is_refused_with_a_reason_and_others_still_load(
    tmp_path, plugins_module, caplog, code, target, reason
):
    found = [entry("GOOD", f"{plugins_module}:Good"), entry(code, f"{plugins_module}:{target}")]
    with caplog.at_level(logging.ERROR):
        registry = load(tmp_path, found)
    assert registry.codes == ["GOOD"]
    assert reason in registry.failures[code]
    assert code in registry.failures[code]
    assert reason in caplog.text
    assert [p.status for p in registry.plugins if p.code == code] == [PluginStatus.REFUSED]


def test_an_incompatible_provider_class_is_refused_before_it_runs(tmp_path, plugins_module):
    load(tmp_path, [entry("FUTURE", f"{plugins_module}:FromTheFuture")])
    assert __import__(plugins_module).CREATED == []


def test_a_refused_instance_is_closed(tmp_path, plugins_module):
    load(tmp_path, [entry("LATE", f"{plugins_module}:future_instance")])
    assert __import__(plugins_module).CLOSED == ["LATE"]


def test_blocked_and_pinned_plugins_are_not_created(tmp_path, plugins_module):
    found = [
        entry("GOOD", f"{plugins_module}:Good"),
        entry("OTHER", f"{plugins_module}:Other"),
        entry("FUTURE", f"{plugins_module}:FromTheFuture"),
    ]
    registry = load(tmp_path, found, enabled=["GOOD", "OTHER", "MISSING"], blocked=["OTHER"])
    assert registry.codes == ["GOOD"]
    statuses = {p.code: (p.status.value, p.reason) for p in registry.plugins}
    assert statuses == {
        "GOOD": ("loaded", ""),
        "OTHER": ("blocked", "blocked by configuration"),
        "FUTURE": ("blocked", "not in the enabled list"),
        "MISSING": ("refused", "bank MISSING is enabled but no installed plugin declares it"),
    }
    assert __import__(plugins_module).CREATED == ["GOOD"]


def test_two_plugins_claiming_one_bank_code_are_both_refused(tmp_path, plugins_module):
    found = [entry("GOOD", f"{plugins_module}:Good"), entry("GOOD", f"{plugins_module}:Good")]
    registry = load(tmp_path, found)
    assert len(registry) == 0
    assert "declared by several plugins" in registry.failures["GOOD"]


@pytest.mark.parametrize("order", ["real first", "simulator first"])
@pytest.mark.parametrize("simulated", [True, False])
def test_a_real_plugin_replaces_the_simulator_of_its_bank(tmp_path, plugins_module, order, simulated):
    real = entry("GOOD", f"{plugins_module}:Good")
    fake = entry("GOOD", f"{plugins_module}:simulated_good")
    found = [real, fake] if order == "real first" else [fake, real]
    registry = load(tmp_path, found, simulated=simulated)
    assert registry.codes == ["GOOD"] and registry.failures == {}
    assert registry.get("GOOD").provider.name == "Good Bank"  # the real one
    assert registry.simulated == []
    by_entry = {p.entry_point: p for p in registry.plugins}
    assert by_entry[real.value].status is PluginStatus.LOADED
    assert not by_entry[real.value].simulated
    shadowed = by_entry[fake.value]
    assert (shadowed.status, shadowed.simulated) == (PluginStatus.BLOCKED, True)
    assert "simulated bank replaced by GOOD" in shadowed.reason
    assert __import__(plugins_module).CREATED == ["GOOD"]  # the simulator never created


def test_two_simulators_of_one_bank_are_both_refused(tmp_path, plugins_module):
    found = [entry("GOOD", f"{plugins_module}:simulated_good")] * 2
    registry = load(tmp_path, found)
    assert len(registry) == 0 and "declared by several plugins" in registry.failures["GOOD"]


def test_two_real_plugins_and_a_simulator_of_one_bank_are_refused(tmp_path, plugins_module):
    found = [entry("GOOD", f"{plugins_module}:Good")] * 2 + [
        entry("GOOD", f"{plugins_module}:simulated_good")
    ]
    registry = load(tmp_path, found)
    assert len(registry) == 0 and "declared by several plugins" in registry.failures["GOOD"]


@pytest.mark.parametrize("target", ["simulated_good", "SimulatedOther"])
def test_simulators_are_not_created_when_turned_off(tmp_path, plugins_module, target):
    code = "GOOD" if target == "simulated_good" else "OTHER"
    found = [entry(code, f"{plugins_module}:{target}"), entry("REAL", f"{plugins_module}:Good")]
    off = load(tmp_path, found, simulated=False)
    [info] = [p for p in off.plugins if p.code == code]
    assert (info.status, info.simulated) == (PluginStatus.BLOCKED, True)
    assert "CARDCASH_SIMULATED_BANKS=true" in info.reason
    assert code not in off and off.simulated == []
    assert __import__(plugins_module).CREATED == ["GOOD"]  # only the real one, as REAL
    on = load(tmp_path, found, simulated=True)
    assert code in on and on.simulated == [code]


def test_invalid_guard_options_refuse_the_plugin(tmp_path, plugins_module):
    registry = load(tmp_path, [entry("GOOD", f"{plugins_module}:Good")],
                    options={"GOOD": {"guard_read_timeout_s": "fast"}})
    assert "guard_read_timeout_s" in registry.failures["GOOD"]


def test_guard_options_reach_the_guard(tmp_path, plugins_module):
    registry = load(tmp_path, [entry("GOOD", f"{plugins_module}:Good")],
                    options={"*": {"guard_write_timeout_s": "30"},
                             "GOOD": {"guard_max_concurrency": "3"}})
    settings = registry.get("GOOD").settings
    assert (settings.write_timeout, settings.max_concurrency) == (30.0, 3)


def test_bank_options_override_the_wildcard():
    options = {"*": {"a": "1", "b": "1"}, "CEB": {"b": "2"}}
    assert bank_options(options, "CEB") == {"a": "1", "b": "2"}
    assert bank_options(options, "SPDB") == {"a": "1", "b": "1"}
async def test_the_six_sandbox_banks_are_installed_entry_points(tmp_path):
    registry = load_providers(
        enabled=None, blocked=[], data_dir=tmp_path, options={"*": {"latency_ms": "0"}}
    )
    try:
        assert registry.codes == ["CEB", "CITIC", "HXBANK", "NBBANK", "SPABANK", "SPDB"]
        assert registry.failures == {}
        info = {p.code: p for p in registry.plugins}["CEB"]
        assert (info.distribution, info.sdk_version) == ("cardcash", SDK_VERSION)
        assert info.name == "China Everbright Bank"
        assert all(h.ok for h in (await registry.health()).values())
        assert registry.simulated == registry.codes  # all six are simulators
    finally:
        await registry.aclose()


def test_the_sandbox_banks_stay_off_when_simulators_are(tmp_path):
    registry = load_providers(
        enabled=None, blocked=[], data_dir=tmp_path / "data", options={}, simulated=False
    )
    assert len(registry) == 0 and registry.failures == {}
    assert {p.code for p in registry.plugins} == set(SANDBOX_BANKS)
    assert all(p.status is PluginStatus.BLOCKED and p.simulated for p in registry.plugins)
    assert not (tmp_path / "data" / "sandbox-banks.sqlite3").exists()
