"""An example cardcash bank provider plugin (in-memory; copy it, do not deploy it).

cardcash finds it through the entry point declared in ``pyproject.toml``::

    [project.entry-points."cardcash.banks"]
    EXAMPLE = "cardcash_examplebank:create_provider"
"""

from cardcash_examplebank.bank import ExampleBank, sign_callback
from providers import BankProvider, ProviderContext


def create_provider(context: ProviderContext) -> BankProvider:
    """The factory cardcash calls once at start-up, with this bank's options."""
    return ExampleBank(context)


__all__ = ["ExampleBank", "create_provider", "sign_callback"]
