"""Conformance test kit for bank provider plugins.

A plugin's test suite subclasses :class:`ConformanceSuite` and defines a ``bank_provider``
fixture; the pytest plugin :mod:`providers.testkit.plugin` (loaded automatically once the SDK
distribution, cardcash-bank-sdk, is installed) supplies the other fixtures with defaults.
Example::

    from providers.testkit import ConformanceSuite

    class TestExampleBank(ConformanceSuite):
        @pytest.fixture
        def bank_provider(self, tmp_path):
            return create_provider(ProviderContext("EXAMPLE", tmp_path, {}))
"""

from providers.testkit.harness import Harness
from providers.testkit.plugin import DEFAULT_CALL_TIMEOUT, DEFAULT_SETTLEMENT_TIMEOUT
from providers.testkit.suite import ConformanceSuite

__all__ = ["DEFAULT_CALL_TIMEOUT", "DEFAULT_SETTLEMENT_TIMEOUT", "ConformanceSuite", "Harness"]
