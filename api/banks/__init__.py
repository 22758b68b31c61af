"""The service's side of bank plugins: loading them, guarding every call, and the sandbox banks.

A plugin imports only the SDK (the ``cardcash-bank-sdk`` distribution, import name
``providers``); what cardcash wraps around it lives here: :mod:`api.banks.registry` finds and
checks installed plugins, :mod:`api.banks.guard` (with :mod:`api.banks.breaker`) stands between
the service and every call, and :mod:`api.banks.sandbox` holds the six simulated banks.
"""
