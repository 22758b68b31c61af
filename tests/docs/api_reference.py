"""``docs/api.md``: the operations a mini-program sends, in the order a user meets them, each
with the variables it was sent and the answer a running server gave.

The documents are the mini-program client's own (``clients/miniprogram/documents``), shown
byte for byte, so each one's SHA-256 is the persisted-query hash the client sends. The walk
signs in a sandbox user on a fresh database, reads the service page and an offer, quotes,
withdraws, confirms (a wrong code first), follows the status over graphql-transport-ws,
polls, cancels a second withdrawal, reads the history and signs out (this session, then
every session after signing in again). The error codes' table is made
from the codes' own lists (:mod:`api.schema.codes`) and the message catalogs.

``make api-docs`` (``python -m tests.docs.api_reference``) writes the page;
``tests/docs/test_api_reference.py`` walks again and fails when the page differs from what
the server answers now. Ids, tokens, cursors, bank references and times differ from walk to
walk: :func:`normalised` blanks them before comparing, and the page is only rewritten when
something else changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from websockets.sync.client import connect

from api import messages
from api.schema import codes

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"
DOCUMENTS = ROOT / "clients" / "miniprogram" / "documents"
SANDBOX_CODE = "123456"
#: The walk's idempotency keys: any 8-128 of A-Z a-z 0-9 . _ : - (a UUID is usual).
KEYS = ("9f1c2e7a-4b3d-4c8e-9a51-0d6f3b2a7c10", "3b8e5d21-7c4a-4f19-b6e2-5a9d0c4f1e83")


def document(name: str) -> str:
    """A shipped document, exactly as the client sends it."""
    return (DOCUMENTS / f"{name}.graphql").read_text(encoding="utf-8")


@dataclass
class Step:
    """One operation as the page shows it."""

    title: str
    prose: str
    name: str
    variables: dict
    answers: list[dict]
    headers: list[str] = field(default_factory=list)
    over: str = "HTTP"


class Walk:
    """A user's way through the API, recorded step by step."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)
        self.token: str | None = None
        self.steps: list[Step] = []

    def close(self) -> None:
        self.http.close()

    def _headers(self, signed_in: bool) -> dict[str, str]:
        headers = {"Accept-Language": "zh-CN"}
        if signed_in and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def post(self, name: str, variables: dict, *, signed_in: bool = True) -> dict:
        response = self.http.post(
            "/graphql",
            json={"query": document(name), "operationName": name, "variables": variables},
            headers=self._headers(signed_in),
        )
        body = response.json()
        assert response.status_code == 200, body
        return body

    def record(
        self, title: str, prose: str, name: str, variables: dict, *, signed_in: bool = True
    ) -> dict:
        body = self.post(name, variables, signed_in=signed_in)
        shown = ["Accept-Language"] + (["Authorization"] if signed_in and self.token else [])
        self.steps.append(Step(title, prose, name, variables, [body], shown))
        return body

    @contextmanager
    def subscribe(self, name: str, variables: dict) -> Iterator[list[dict]]:
        """graphql-transport-ws: sign in, subscribe, and yield the messages received; on
        leaving, read them until the operation completes."""
        ws_url = self.url.replace("http", "ws", 1) + "/graphql"
        with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as socket:
            init = {"Authorization": f"Bearer {self.token}", "Accept-Language": "zh-CN"}
            socket.send(json.dumps({"type": "connection_init", "payload": init}))
            assert _received(socket)["type"] == "connection_ack"
            payload = {"query": document(name), "operationName": name, "variables": variables}
            socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            seen = [_received(socket)]
            yield seen
            while seen[-1]["type"] == "next":
                seen.append(_received(socket))


def _received(socket) -> dict:
    frame = socket.recv(timeout=30)
    assert isinstance(frame, str), "graphql-transport-ws messages are text frames"
    return json.loads(frame)


def walk(url: str) -> list[Step]:
    """The whole flow against the server at ``url`` (a fresh database, sandbox banks)."""
    w = Walk(url)
    try:
        _walk(w)
    finally:
        w.close()
    return w.steps


def _walk(w: Walk) -> None:
    channel = "WECHAT"
    login = w.record(
        "Sign in",
        "The mini-program gets a one-time code from `wx.login()` (Alipay: `my.getAuthCode()`) and "
        "trades it for a session token. Send the token as `Authorization: Bearer <token>` on "
        "every later request; when an answer says `UNAUTHENTICATED` with `extensions.reason` "
        "`EXPIRED`, sign in again. In development any code `sandbox:<name>` signs in a sandbox "
        "user, as here.",
        "Login",
        {"channel": channel, "code": "sandbox:xiaoming"},
        signed_in=False,
    )
    w.token = login["data"]["login"]["token"]

    w.record(
        "The service page: banks and their offers",
        "The banks live on the user's channel, usable ones first (`LIVE`, `PILOT`), then "
        '`ONBOARDING` ("coming soon"). Show `aprRange` (the APR, larger than any daily or '
        "monthly rate) wherever a price is shown.",
        "ServicePage",
        {"channel": channel},
    )

    offer = w.record(
        "One bank's offer, the user's cards",
        "What the signed-in user can withdraw from one bank: the credit card it applies to "
        "(`creditCardId`), the limits, and the price of each repayment option; and the user's "
        "own debit cards, one of which receives the money.",
        "BankOffer",
        {"code": "CEB", "channel": channel},
    )
    data = offer["data"]
    credit = data["bank"]["offer"]["creditCardId"]
    debit = data["viewer"]["debitCards"][0]["id"]

    quote_input = {
        "bankCode": "CEB",
        "creditCardId": credit,
        "amount": "6000.00",
        "repaymentType": "INSTALLMENT",
        "periods": 6,
    }
    quote = w.record(
        "Trial calculation (试算)",
        "The price of one amount and tenor, with its repayment schedule and the disclosure the "
        "user accepts. `apr` is the schedule's internal rate of return times twelve, fees "
        'included (`aprMethod`). Amounts are strings of plain decimals ("10000", "10000.5", '
        '"10000.50"). A quote is valid until `expiresAt`.',
        "CreateQuote",
        {"input": quote_input},
    )["data"]["createQuote"]

    w.record(
        "Trial calculation refused: an amount over the limits",
        "Failures the user can act on come back as a typed member of the result union, each "
        "with `code` and `message` (in the request's language). An amount out of bounds says "
        "which bounds, as money. The table at the end lists every code.",
        "CreateQuote",
        {"input": {**quote_input, "amount": "900000.00"}},
    )

    withdrawal_input = {
        "quoteId": quote["id"],
        "debitCardId": debit,
        "purpose": "CONSUMPTION",
        "acceptedDisclosureVersion": quote["disclosure"]["version"],
        "acceptedDisclosureDigest": quote["disclosure"]["digest"],
        "acceptedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "acceptedDataSharingVersion": quote["dataSharingConsent"]["version"],
        "idempotencyKey": KEYS[0],
    }
    created = w.record(
        "Withdraw",
        "After the user has read and accepted the disclosure, agreed apart to share their "
        "information with the bank (`dataSharingConsent`), and chosen the use of the money "
        "(nothing is preselected). `acceptedDisclosureDigest` is the digest of the text shown "
        "(SHA-256 of version, a line feed and text; the quote's own where the runtime cannot "
        "hash) and `acceptedAt` when the user accepted, by the device's clock, within the "
        "quote's life. `idempotencyKey` is made once per withdrawal by the client (a UUID): "
        "after a timeout or a network error, send the same input with the same key again and "
        "the answer is the same withdrawal, never a second one. The bank then sends the user "
        "a verification code by SMS.",
        "CreateWithdrawal",
        {"input": withdrawal_input},
    )["data"]["createWithdrawal"]
    w.record(
        "Withdraw again after a timeout: the same withdrawal",
        "The same input with the same `idempotencyKey`: the withdrawal the first request "
        "made, as it is now.",
        "CreateWithdrawal",
        {"input": withdrawal_input},
    )
    withdrawal_id = created["id"]

    with w.subscribe("WithdrawalStatus", {"id": withdrawal_id}) as seen:
        w.record(
            "Verification code refused",
            "A wrong code: `attemptsLeft` says how many more tries the bank allows.",
            "ConfirmWithdrawal",
            {"withdrawalId": withdrawal_id, "verificationCode": "000000"},
        )
        w.record(
            "Verification code (SMS)",
            "The code the bank sent (the sandbox banks' is `123456`). The withdrawal goes to "
            "`PROCESSING`; the bank's answer arrives later.",
            "ConfirmWithdrawal",
            {"withdrawalId": withdrawal_id, "verificationCode": SANDBOX_CODE},
        )
    w.steps.insert(
        -2,
        Step(
            "Live status (WebSocket)",
            "Subscriptions use graphql-transport-ws on `/graphql`, signed in by the "
            '`connection_init` payload `{"Authorization": "Bearer <token>"}` (and '
            "`Accept-Language`). Subscribe right after the withdrawal is made: the first "
            "`next` is its status now, then one for every change, and `complete` once it is "
            "final (`SUCCEEDED`, `FAILED`, `CANCELLED`). Shown here: the first and the last "
            "`next` and the `complete`.",
            "WithdrawalStatus",
            {"id": withdrawal_id},
            [seen[0], seen[-2], seen[-1]],
            ["connection_init payload"],
            over="WebSocket",
        ),
    )

    w.record(
        "Status by polling",
        "Where a socket cannot be kept open, read the withdrawal until its status is final. "
        "`events` is its history, oldest first.",
        "Withdrawal",
        {"id": withdrawal_id},
    )

    second = w.post("CreateQuote", {"input": {**quote_input, "amount": "2000.00", "periods": 3}})[
        "data"
    ]["createQuote"]
    assert second["__typename"] == "Quote", second
    pending = w.post(
        "CreateWithdrawal",
        {
            "input": {
                **withdrawal_input,
                "quoteId": second["id"],
                "acceptedDisclosureVersion": second["disclosure"]["version"],
                "acceptedDisclosureDigest": second["disclosure"]["digest"],
                "acceptedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "idempotencyKey": KEYS[1],
            }
        },
    )["data"]["createWithdrawal"]
    w.record(
        "Cancel",
        "A withdrawal still waiting for its verification code can be cancelled; once the code "
        "is accepted it is the bank's, and cancelling says `INVALID_STATE` with "
        "`currentStatus`.",
        "CancelWithdrawal",
        {"id": pending["id"]},
    )

    w.record(
        "History",
        "The user's withdrawals, newest first, 20 a page (`first` up to 50); pass "
        "`pageInfo.endCursor` as `after` for the next page.",
        "History",
        {"first": 20},
    )

    w.token, token = None, w.token
    w.record(
        "Signed out: UNAUTHENTICATED",
        "A field that needs a user, asked without a token, is null and comes with an error "
        "`UNAUTHENTICATED` (`extensions.reason`: `MISSING`, `EXPIRED`, `REVOKED`, `INVALID` or "
        "`MALFORMED`). Errors of the request itself are in `errors[]`, each with "
        "`extensions.code` and `extensions.requestId`.",
        "History",
        {"first": 20},
        signed_in=False,
    )
    w.token = token

    w.record(
        "Sign out",
        "Ends the session of the token sent, on every replica: from then on the token is "
        "refused and the session's subscriptions end (their socket is closed with 4401). Safe "
        "to repeat (`alreadyLoggedOut: true`). The mini-program client's `logout()` sends it, "
        "forgets the token and does not sign in by itself until `login()`.",
        "Logout",
        {},
    )
    w.record(
        "Signed out: the token is refused",
        "The logged-out token sent again: `UNAUTHENTICATED` with `extensions.reason` "
        "`REVOKED`. Sign in again.",
        "History",
        {"first": 20},
    )
    login = w.post("Login", {"channel": channel, "code": "sandbox:xiaoming"}, signed_in=False)
    w.token = login["data"]["login"]["token"]
    w.record(
        "Sign out on every device",
        "After signing in again: ends every session the user has signed in so far, on every "
        "device, this one included (a sign-in after it works). The client's "
        "`logout({ everywhere: true })`.",
        "LogoutEverywhere",
        {},
    )


# --- the page ------------------------------------------------------------------------------

INTRO = """\
# The cardcash API for mini-programs

Every operation a WeChat or Alipay mini-program sends, in the order a user meets them, with the
variables sent and the answer the server gave. The answers are real: `make api-docs` walks the
flow against a server on the sandbox banks and writes them here, and the test suite walks it
again and fails when this page and the server disagree (ids, tokens and times differ from walk
to walk). The documents are the mini-program client's own
([`clients/miniprogram/documents`](../clients/miniprogram/documents)), byte for byte: the
SHA-256 shown with each is the persisted-query hash the client sends.

**Requests.** `POST /graphql` with `Content-Type: application/json` and a body
`{"query", "operationName", "variables"}` (or, with persisted queries, the hash in
`extensions.persistedQuery` and the text only after `PERSISTED_QUERY_NOT_FOUND`). `wx.request`
and `my.request` must be told `header: {"content-type": "application/json"}`: their default, a
form body, is refused with 415. Mutations go over HTTP only; subscriptions over the WebSocket.
`Accept-Language` (`zh-CN` or `en`) picks the language of every message; zh-CN when it is
absent or names neither.

**Answers.** A failure the user can act on is a typed member of the result union
(`... on Error { code message }`); a failure of the request itself is an entry of `errors[]`
with `extensions.code`. Both kinds of code are in [the table](#error-codes) at the end.
Amounts are `{"amount": "10000.00", "currency": "CNY"}`, the amount a string; times are RFC
3339 with the offset, to the millisecond.

"""


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def render_step(number: int, step: Step, first: dict[str, str]) -> str:
    """A step; a document already shown is linked, not repeated (``first``: the link to
    the step that shows each)."""
    text = document(step.name)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with_headers = ", ".join(f"`{h}`" for h in step.headers)
    lines = [
        f"### {number}. {step.title}",
        "",
        f"`{step.name}` over {step.over}"
        + (f", with {with_headers}" if with_headers else "")
        + ".",
        "",
        step.prose,
        "",
    ]
    if step.name in first:
        lines += [f"The document of {first[step.name]}.", ""]
    else:
        first[step.name] = f"[step {number}](#{_anchor(number, step)})"
        lines += ["```graphql", text.rstrip("\n"), "```", "", f"SHA-256 `{digest}`.", ""]
    lines += ["Variables:", "", "```json", _json(step.variables), "```", ""]
    if step.over == "WebSocket":
        lines.append("Messages from the server:")
        for message in step.answers:
            lines += ["", "```json", _json(message), "```"]
        lines.append("")
    else:
        lines += ["Answer:", "", "```json", _json(step.answers[0]), "```", ""]
    return "\n".join(lines)


def render(steps: list[Step]) -> str:
    parts = [INTRO, "## The flow\n"]
    for number, step in enumerate(steps, 1):
        parts.append(f"{number}. [{step.title}](#{_anchor(number, step)})")
    parts.append("")
    first: dict[str, str] = {}
    for number, step in enumerate(steps, 1):
        parts.append(render_step(number, step, first))
    parts.append(error_table())
    return "\n".join(parts).rstrip("\n") + "\n"


TABLE_INTRO = """\
## Error codes

Made from the codes' own lists (the schema's `ErrorCode`, `api/schema/codes.py`) and the
message catalogs (`api/messages/zh-CN.json`, `en.json`), so no code is missing. "Tell the user"
is the code's own sentence; an answer's `message` is often more precise (it names the bank,
the amount, the attempts left), in the request's language. Branch on the code, never on the
message.

### Typed errors: `... on Error { code message }`

A member of the operation's result union, with HTTP status 200.
"""

REQUEST_INTRO = """\
### Errors of the request: `errors[].extensions.code`

Every entry of `errors[]` has `extensions.code` and `extensions.requestId` (the
`X-Request-ID` of the answer, to quote to support). HTTP "200 (400)": 200 under
`Accept: application/json` (or none), 400 under `application/graphql-response+json`, whose
request errors come without `data`. Over the WebSocket the same entries come in the `error`
message of the operation (a `next` message's `errors` for a field's error), and the socket
stays open for the connection's other operations.

An entry's `message` is the sentence below in the request's language: its `Accept-Language`
(zh-CN when it names neither zh nor en); over the WebSocket the connection's, from
`connection_init`'s `Accept-Language`, else the upgrade request's header. What the server
found wrong, for the developer, is in `extensions.detail`, in English (graphql-core's words
for a parse or validation error, naming the place in the document); `UNAUTHENTICATED` has
none, its `extensions.reason` says why, and a masked `INTERNAL_SERVER_ERROR` none either.
`PERSISTED_QUERY_NOT_FOUND` and `_NOT_SUPPORTED` keep Apollo's messages, which Apollo's
clients look for.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def error_table() -> str:
    """Every code, from the schema's enum and the request codes' list, with the catalogs'
    sentences."""
    from api.schema import schema
    from api.schema.errors import ERROR_TYPES

    enum = schema._schema.type_map["ErrorCode"]
    lines = [
        TABLE_INTRO,
        "| code | member | when | tell the user (zh-CN) | tell the user (en) | retry |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, value in enum.values.items():
        lines.append(
            f"| `{name}` | `{ERROR_TYPES[name].__name__}` | {_cell(value.description)} "
            f"| {_cell(messages.text(name, 'zh-CN'))} | {_cell(messages.text(name, 'en'))} "
            f"| {_cell(codes.RETRY[name])} |"
        )
    lines += [
        "",
        REQUEST_INTRO,
        "| code | HTTP | when | tell the user (zh-CN) | tell the user (en) | retry |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for code in codes.REQUEST_CODES.values():
        lines.append(
            f"| `{code.code}` | {code.status} | {_cell(code.when)} "
            f"| {_cell(messages.text(code.code, 'zh-CN'))} "
            f"| {_cell(messages.text(code.code, 'en'))} | {_cell(code.retry)} |"
        )
    return "\n".join(lines) + "\n"


def _anchor(number: int, step: Step) -> str:
    """GitHub's anchor of a step's heading."""
    heading = f"{number}. {step.title}".lower()
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


# --- comparing walks -----------------------------------------------------------------------

_VOLATILE = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+"), "<token>"),
    (re.compile(r"\b(usr|crd|qte|wdr)_[a-z2-7]{26}\b"), r"\1_<id>"),
    (re.compile(r'"(cursor|endCursor|bankReference|requestId)": "[^"]*"'), r'"\1": "<\1>"'),
    (re.compile(r'"(digest|acceptedDisclosureDigest)": "[0-9a-f]{64}"'), r'"\1": "<digest>"'),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"), "<time>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "<date>"),
    # A single month runs to the same day of the next month at some banks: 28 to 31 days,
    # so its APR depends on the month the walk is in.
    (
        re.compile(
            r'("repaymentType": "SINGLE_MONTH",\s+"periods": 1,\s+"aprRange": \{\s+)'
            r'"lowest": "[\d.]+",(\s+)"highest": "[\d.]+"'
        ),
        r'\1"lowest": "<apr>",\2"highest": "<apr>"',
    ),
]


def normalised(page: str) -> str:
    """``page`` with what differs from walk to walk blanked."""
    for pattern, replacement in _VOLATILE:
        page = pattern.sub(replacement, page)
    return page


# --- a server to walk ----------------------------------------------------------------------


def generate(database_url: str, folder: Path) -> str:
    """Migrate and seed ``database_url``, serve it, walk the flow, render the page."""
    from tests.servers import ServerProcess, server_env

    # Logo links as `make run` gives them, not the walk's own port.
    env = server_env(database_url, folder / "data", public_url="http://127.0.0.1:8000")
    for command in (["migrate"], ["seed"]):
        subprocess.run(
            [sys.executable, "-m", "api.cli", *command],
            env=env,
            cwd=folder,
            check=True,
            capture_output=True,
        )
    with ServerProcess(env, folder) as server:
        return render(walk(server.url))


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        page = generate(f"sqlite+aiosqlite:///{folder}/cardcash.db", Path(folder))
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if normalised(current) == normalised(page):
        print(f"{PAGE.relative_to(ROOT)} is up to date")
        return 0
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
