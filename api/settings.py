"""Configuration, read from the environment (prefix ``CARDCASH_``) and an optional ``.env`` file."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from providers.files import install_secret

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./cardcash.db"
MIN_SECRET_BYTES = 32


class SettingsError(RuntimeError):
    """The configuration cannot run the service; the message says what to change."""


class Settings(BaseSettings):
    """Every setting of the service. Each field is ``CARDCASH_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CARDCASH_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["dev", "prod"] = Field(
        "dev",
        description="`dev` or `prod`. Prod turns off GraphiQL and introspection and requires a secret key.",
    )
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy async URL; `postgresql+asyncpg://…` for PostgreSQL.",
    )
    data_dir: Path = Field(
        Path(".cardcash"),
        description="Local data: the dev secret key, the sandbox banks' own state and their random callback secret. Created owner-only (0700, files 0600), as is the SQLite database file.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs session tokens; at least 32 bytes; the same on every replica.",
        json_schema_extra={"shown_default": "(generated in dev)"},
    )
    catalog_file: Path | None = Field(
        None,
        description="The bank catalog data file `cardcash seed` loads.",
        json_schema_extra={"shown_default": "packaged `catalog.toml`"},
    )

    public_url: str = Field(
        "",
        description="Base URL of logo links handed to clients.",
        json_schema_extra={"shown_default": "`http://HOST:PORT`"},
    )
    catalog_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a process caches the catalog; then one reading refreshes it while requests answer from the previous view (never older than twice this).",
    )

    host: str = Field("127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(
        8000, description="Port `serve` listens on; `public_url` follows it unless set."
    )
    workers: int = Field(1, ge=1, description="Worker processes `serve` starts.")
    log_level: str = Field("INFO", description="Level of the service's log (DEBUG, INFO, WARNING, ERROR); at INFO, one access line per request.")

    db_pool_size: int = Field(
        10,
        ge=1,
        description="Connections per process on PostgreSQL (SQLite keeps one writer, four readers and two connections for long scans).",
    )
    db_max_overflow: int = Field(
        10, ge=0, description="Connections a PostgreSQL pool may open beyond its size under load."
    )
    db_pool_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a pooled connection."
    )
    db_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a new database connection."
    )
    sqlite_busy_timeout_ms: int = Field(
        5000,
        ge=0,
        description="How long a write waits for SQLite's write lock while another process holds it; then \"database is locked\". The wait never stalls the process's other requests.",
    )

    session_ttl_seconds: int = Field(86400, ge=60, description="Lifetime of a session token.")
    session_check_seconds: float = Field(
        1.0,
        gt=0,
        le=10,
        description="How long a process reuses what it read of a session's logout (at most 10 s): a session logged out on another replica is refused here within this time, and its sockets are closed within twice this.",
    )
    sandbox_login: bool | None = Field(
        None,
        description="Accept `sandbox:<name>` codes; never in prod.",
        json_schema_extra={"shown_default": "on in dev"},
    )
    wechat_app_id: str = Field(
        "",
        description="WeChat mini-program AppID for login (`jscode2session`); without it WeChat takes sandbox codes only.",
    )
    wechat_app_secret: SecretStr | None = Field(None, description="WeChat mini-program AppSecret.")
    wechat_api_url: str = Field("https://api.weixin.qq.com", description="WeChat's API base URL.")
    alipay_app_id: str = Field(
        "",
        description="Alipay mini-program AppID for login (`alipay.system.oauth.token`, RSA2); without it Alipay takes sandbox codes only.",
    )
    alipay_private_key: SecretStr | None = Field(
        None, description="The app's RSA2 private key, PEM."
    )
    alipay_public_key: str = Field(
        "",
        description="Alipay's public key, PEM: every answer must verify; prod requires it with Alipay login.",
    )
    alipay_gateway: str = Field(
        "https://openapi.alipay.com/gateway.do", description="Alipay's gateway URL."
    )
    channel_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a channel's login API."
    )

    banks_enabled: list[str] | None = Field(
        None,
        description="JSON list of bank codes: only these plugins are loaded (all by default).",
        json_schema_extra={"shown_default": "all"},
    )
    banks_blocked: list[str] = Field(
        default_factory=list, description="JSON list of bank codes whose plugins are never loaded."
    )
    bank_options: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='JSON options per bank (`"*"` for all): guard timeouts, sandbox latency… (docs/plugins.md).',
    )
    cards_refresh_seconds: float = Field(
        600, ge=0, description="How long a bank's card list is reused."
    )

    quote_ttl_seconds: int = Field(600, ge=30, description="How long a quote can be accepted.")
    person_daily_cap: Decimal = Field(
        Decimal("20000.00"),
        gt=0,
        decimal_places=2,
        description="CNY a person may draw a day across every bank and channel (China's day).",
    )
    high_cost_apr: Decimal = Field(
        Decimal("36"),
        ge=0,
        decimal_places=2,
        description="APR in percent above which an option and a quote carry the high-cost "
        "warning.",
    )
    sync_interval_seconds: float = Field(
        0.5, gt=0, description="Status sync: how often it looks for due work."
    )
    sync_first_delay_seconds: float = Field(
        2.0, gt=0, description="Status sync: the first status query after an open outcome."
    )
    sync_max_delay_seconds: float = Field(
        300.0,
        gt=0,
        description="Status sync: the longest backoff between two status queries of a withdrawal.",
    )
    verification_window_seconds: float = Field(
        900.0,
        gt=0,
        description="How long a verification code is awaited before the withdrawal is cancelled.",
    )
    max_verification_attempts: int = Field(
        5, ge=1, description="Wrong codes before a withdrawal fails (banks may stop sooner)."
    )
    status_sync: bool = Field(True, description="Run status sync in this process.")

    rate_login_per_minute: int = Field(
        20, ge=1, description="Sign-ins per client address a minute."
    )
    rate_money_per_minute: int = Field(
        30,
        ge=1,
        description="Money-moving requests (`createWithdrawal`, `confirmWithdrawal`) per user a minute.",
    )
    rate_address_per_minute: int = Field(
        120, ge=1, description="Money-moving requests and quotes per client address a minute."
    )
    rate_quote_per_minute: int = Field(
        30, ge=1, description="Trial calculations (`createQuote`) per user a minute."
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate limits are counted: `memory://` (each process alone: replicas × limit in all) or `redis://host:port/db` (shared by every replica: the limit holds for the service).",
    )

    graphql_max_depth: int = Field(
        10, ge=1, description="Deepest field nesting of a document, fragments expanded."
    )
    graphql_max_aliases: int = Field(
        15, ge=0, description="Most aliases in a document, fragments expanded."
    )
    graphql_max_tokens: int = Field(
        2000, ge=100, description="Most lexical tokens in a document (the parser stops there)."
    )
    graphql_max_fields: int = Field(
        2000,
        ge=1,
        description="Most fields an operation selects once its fragments are expanded (each spread counted in full).",
    )
    graphql_operation_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Time budget of a query or mutation; past it the operation is stopped and answered 503 `OPERATION_TIMEOUT`.",
    )
    graphql_max_batch: int = Field(
        0, ge=0, description="Operations in one batched (JSON array) request; `0`: batching off."
    )
    max_body_bytes: int = Field(
        65536, ge=1024, description="Largest request body and WebSocket message; larger is 413."
    )
    persisted_queries: bool = Field(
        True, description="Accept automatic persisted queries (Apollo protocol)."
    )
    persisted_queries_cache_size: int = Field(
        1000, ge=1, description="Automatic persisted queries a process remembers."
    )
    persisted_queries_file: Path | None = Field(
        None, description="Persisted query manifest (JSON) of the shipped front ends."
    )
    persisted_only: bool = Field(False, description="Execute only the manifest's operations.")
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Proxies (addresses or networks, JSON list) whose `X-Forwarded-For`/`-Proto` is believed.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins browsers may call from (JSON list; `["*"]` for any). Mini-programs need none.',
    )
    cors_max_age: int = Field(600, ge=0, description="Seconds a browser caches a CORS preflight.")
    admin: bool = Field(
        False, description="Serve the operator API at `/admin/graphql` (docs/operations.md)."
    )
    metrics: bool = Field(True, description="Serve Prometheus metrics at `/metrics`.")
    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Client networks that may read `/metrics`.",
    )
    metrics_token: SecretStr | None = Field(
        None, description="A bearer token that opens `/metrics` from anywhere."
    )
    metrics_db_refresh_seconds: float = Field(
        15.0, ge=0, description="How long the database-derived gauges are reused between scrapes."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="`json` (one object a line) or `text` (for a terminal)."
    )
    access_log_flush_seconds: float = Field(
        0.5,
        ge=0,
        le=60,
        description="How long a request's access line may wait to be written with the others "
        "(json; `0`: each at once). Written at shutdown; a process killed outright (SIGKILL) "
        "loses at most this much. A failed request's line is written at once.",
    )
    shutdown_timeout_seconds: float = Field(
        30.0, gt=0, description="How long in-flight requests may run on after SIGTERM."
    )

    graphiql: bool | None = Field(
        None,
        description="Serve GraphiQL at /graphql.",
        json_schema_extra={"shown_default": "on in dev, off in prod"},
    )
    introspection: bool | None = Field(
        None,
        description="Answer introspection queries.",
        json_schema_extra={"shown_default": "on in dev, off in prod"},
    )
    demo: bool | None = Field(
        None,
        description="Serve the mobile demo at `/demo`.",
        json_schema_extra={"shown_default": "on in dev, off in prod"},
    )
    suggestions: bool | None = Field(
        None,
        description='"Did you mean …?" in errors about misspelt fields, arguments, types and enum values.',
        json_schema_extra={"shown_default": "on in dev, off in prod"},
    )
    simulated_banks: bool | None = Field(
        None,
        description="Serve the six simulated (sandbox) banks. They answer under the real banks' codes and move no money: in prod only `true` turns them on, and `cardcash plugins` and the start-up log then say so. A real plugin of the same bank code replaces its simulator.",
        json_schema_extra={"shown_default": "on in dev, off in prod"},
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        if url.startswith("sqlite:///") or url.startswith("sqlite://"):
            return url.replace("sqlite:", "sqlite+aiosqlite:", 1)
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url

    @model_validator(mode="after")
    def _prod_needs_a_key(self) -> Settings:
        if self.env == "prod":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key.encode()) < MIN_SECRET_BYTES:
                raise SettingsError(
                    "CARDCASH_ENV=prod needs CARDCASH_SECRET_KEY of at least "
                    f"{MIN_SECRET_BYTES} bytes (for example: python -c "
                    "'import secrets; print(secrets.token_urlsafe(48))'); it signs session tokens "
                    "and must be the same on every replica."
                )
            if self.alipay_app_id and not self.alipay_public_key:
                raise SettingsError(
                    "CARDCASH_ENV=prod with Alipay login needs CARDCASH_ALIPAY_PUBLIC_KEY: "
                    "without it, answers from the Alipay gateway cannot be verified."
                )
        return self

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, url: str) -> str:
        if url.split("://", 1)[0] not in (
            "memory",
            "redis",
            "rediss",
            "redis+sentinel",
            "redis+cluster",
        ):
            raise SettingsError(
                "CARDCASH_RATE_LIMIT_STORAGE must be memory:// or redis://host:port/db"
            )
        return url

    @model_validator(mode="before")
    @classmethod
    def _public_url_follows_the_port(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("public_url"):
            host = str(data.get("host") or "127.0.0.1")
            host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            host = f"[{host}]" if ":" in host else host
            data = {**data, "public_url": f"http://{host}:{data.get('port') or 8000}"}
        return data

    @model_validator(mode="after")
    def _persisted_only_needs_a_manifest(self) -> Settings:
        if self.persisted_only and self.persisted_queries_file is None:
            raise SettingsError(
                "CARDCASH_PERSISTED_ONLY=true needs CARDCASH_PERSISTED_QUERIES_FILE: the "
                "manifest of the operations the shipped front ends send."
            )
        return self

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.is_prod) if self.graphiql is None else self.graphiql

    @property
    def demo_enabled(self) -> bool:
        return (not self.is_prod) if self.demo is None else self.demo

    @property
    def introspection_enabled(self) -> bool:
        return (not self.is_prod) if self.introspection is None else self.introspection

    @property
    def suggestions_enabled(self) -> bool:
        return (not self.is_prod) if self.suggestions is None else self.suggestions

    @property
    def simulated_banks_enabled(self) -> bool:
        return (not self.is_prod) if self.simulated_banks is None else self.simulated_banks

    @property
    def sandbox_login_enabled(self) -> bool:
        return (
            (not self.is_prod)
            if self.sandbox_login is None
            else (self.sandbox_login and not self.is_prod)
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def signing_key(self) -> bytes:
        """The key that signs session tokens.

        In dev mode without ``CARDCASH_SECRET_KEY`` a key is generated once and kept in
        ``data_dir`` so that sessions survive a restart.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return install_secret(self.data_dir / "dev-secret-key").encode()


# -- the README's table of settings, made from the fields above --------------------------------

README_BEGIN = "<!-- settings: `make settings-docs` writes this table from api/settings.py -->"
README_END = "<!-- settings: end -->"


def _shown(field) -> str:
    extra = field.json_schema_extra or {}
    if "shown_default" in extra:
        return str(extra["shown_default"])
    value = field.get_default(call_default_factory=True)
    if value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, list | dict):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return f"`{text}`"


def settings_table() -> str:
    """One row per setting: its variable, its default, what it does."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `CARDCASH_{name.upper()}` | {_shown(field)} | {meaning} |")
    return "\n".join(rows) + "\n"


def with_settings_table(readme: str) -> str:
    """``readme`` with the text between its two markers replaced by :func:`settings_table`."""
    head, begin, rest = readme.partition(README_BEGIN)
    _, end, tail = rest.partition(README_END)
    if not begin or not end:
        raise ValueError(f"the README lacks the markers {README_BEGIN!r} and {README_END!r}")
    return f"{head}{begin}\n{settings_table()}{end}{tail}"


if __name__ == "__main__":  # make settings-docs
    readme = Path("README.md")
    readme.write_text(with_settings_table(readme.read_text()))
