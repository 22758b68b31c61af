"""Loaded at start-up by the replicas of the scale tests (through ``PYTHONPATH``).

With ``CARDCASH_TEST_BANK_CALLS`` set, every money call a sandbox bank receives is appended to
that file as one JSON line per withdrawal (a batch query as one query of each): the call,
the request id, the process id and the time. A call's lines are written with one
``O_APPEND`` write, so several processes can share the file. The scale
tests read it to prove that two replicas never ask the bank the same thing twice.
"""

import os

_PATH = os.environ.get("CARDCASH_TEST_BANK_CALLS")

if _PATH:
    import functools
    import json
    import time

    from api.banks.sandbox.bank import SandboxBank

    def _record(name: str) -> None:
        original = getattr(SandboxBank, name)

        @functools.wraps(original)
        async def recorded(self, request, *args, **kwargs):
            if isinstance(request, str):
                asked, call = [request], name
            elif isinstance(request, (list, tuple)):  # a batch query: one line per withdrawal
                asked, call = list(request), "query_withdrawal"
            else:
                asked, call = [request.request_id], name
            now, pid = time.time(), os.getpid()
            lines = "".join(
                json.dumps({"call": call, "request_id": r, "pid": pid, "at": now}) + "\n"
                for r in asked
            )
            fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines.encode())
            finally:
                os.close(fd)
            return await original(self, request, *args, **kwargs)

        setattr(SandboxBank, name, recorded)

    for _name in (
        "submit_withdrawal",
        "confirm_withdrawal",
        "cancel_withdrawal",
        "query_withdrawal",
        "query_withdrawals",
    ):
        _record(_name)
