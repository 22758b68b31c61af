"""Configuration, read from the environment (prefix ``CARDCASH_``) and an optional ``.env`` file."""

from __future__ import annotations

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
        "dev", description="dev: GraphiQL, sandbox login; prod: neither."
    )
    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy async URL.")
    data_dir: Path = Field(
        Path(".cardcash"), description="Local data: dev secret key, sandbox bank state."
    )
    secret_key: SecretStr | None = Field(None, description="Signs session tokens; ≥ 32 bytes.")
    catalog_file: Path | None = Field(
        None, description="Bank catalog TOML; the packaged one by default."
    )

    public_url: str = Field(
        "",
        description="Base URL clients reach us at; by default http://HOST:PORT of serve "
        "(127.0.0.1 for an address that listens everywhere).",
    )
    catalog_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a replica caches the catalog; a stale view is served while one "
        "reading refreshes it, never once it is twice this old.",
    )

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1)
    log_level: str = "INFO"

    db_pool_size: int = Field(10, ge=1, description="Connections per process (PostgreSQL).")
    db_max_overflow: int = Field(10, ge=0)
    db_pool_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a free connection.")
    db_connect_timeout: float = Field(5.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)

    session_ttl_seconds: int = Field(86400, ge=60, description="Lifetime of a session token.")
    session_check_seconds: float = Field(
        1.0,
        gt=0,
        le=10,
        description="How long a process reuses what it read of a session's logout: a session "
        "logged out on another replica is refused within this time (and its sockets closed "
        "within twice this).",
    )
    sandbox_login: bool | None = Field(None, description="Accept sandbox:<name> codes; dev only.")
    wechat_app_id: str = ""
    wechat_app_secret: SecretStr | None = None
    wechat_api_url: str = "https://api.weixin.qq.com"
    alipay_app_id: str = ""
    alipay_private_key: SecretStr | None = Field(None, description="App RSA2 private key, PEM.")
    alipay_public_key: str = Field("", description="Alipay's public key, PEM: answers must verify.")
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    channel_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a channel's login API."
    )

    banks_enabled: list[str] | None = Field(None, description="Only these bank plugins (codes).")
    banks_blocked: list[str] = Field(default_factory=list, description="Never these bank plugins.")
    bank_options: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Per-bank plugin options, JSON: {"*": {...}, "CEB": {...}}.',
    )
    cards_refresh_seconds: float = Field(
        600, ge=0, description="How long bank card lists are reused."
    )

    quote_ttl_seconds: int = Field(600, ge=30, description="How long a quote can be accepted.")
    sync_interval_seconds: float = Field(
        0.5, gt=0, description="How often status sync looks for due work."
    )
    sync_first_delay_seconds: float = Field(
        2.0, gt=0, description="First status query after an open outcome."
    )
    sync_max_delay_seconds: float = Field(
        300.0, gt=0, description="Longest pause between status queries."
    )
    verification_window_seconds: float = Field(
        900.0, gt=0, description="How long a code is awaited."
    )
    max_verification_attempts: int = Field(
        5, ge=1, description="Wrong codes before a withdrawal fails."
    )
    status_sync: bool = Field(True, description="Run status sync in this process.")

    rate_login_per_minute: int = Field(
        20, ge=1, description="Sign-ins per client address a minute."
    )
    rate_money_per_minute: int = Field(
        30, ge=1, description="Money-moving requests per user a minute."
    )
    rate_address_per_minute: int = Field(
        120, ge=1, description="Money-moving requests and quotes per address a minute."
    )
    rate_quote_per_minute: int = Field(
        30, ge=1, description="Trial calculations (createQuote) per user a minute."
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate limits are counted: memory:// (this process; replicas × "
        "limit in all) or redis://host:port/db (shared: the limit holds across replicas).",
    )

    graphql_max_depth: int = Field(
        10, ge=1, description="Deepest field nesting a GraphQL document may have."
    )
    graphql_max_aliases: int = Field(
        15, ge=0, description="Most aliases a GraphQL document may use."
    )
    graphql_max_tokens: int = Field(
        2000, ge=100, description="Most lexical tokens a GraphQL document may have."
    )
    graphql_max_fields: int = Field(
        2000,
        ge=1,
        description="Most fields a GraphQL operation may select once its fragments are "
        "expanded (every spread counted in full).",
    )
    graphql_operation_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Time budget of one query or mutation: past it, the operation is stopped "
        "and answered OPERATION_TIMEOUT (subscriptions are exempt).",
    )
    graphql_max_batch: int = Field(
        0, ge=0, description="Operations in one batched request; 0 turns batching off."
    )
    max_body_bytes: int = Field(
        65536, ge=1024, description="Largest request body (and WebSocket message) accepted."
    )
    persisted_queries: bool = Field(
        True, description="Automatic persisted queries (Apollo protocol) are accepted."
    )
    persisted_queries_cache_size: int = Field(
        1000, ge=1, description="Automatic persisted queries a process remembers."
    )
    persisted_queries_file: Path | None = Field(
        None, description="Persisted query manifest (JSON) of the shipped front ends."
    )
    persisted_only: bool = Field(
        False, description="Execute only operations listed in persisted_queries_file."
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Proxies whose X-Forwarded-For/-Proto is believed (addresses or networks).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins browsers may call from ("*": any); none by default.',
    )
    cors_max_age: int = Field(600, ge=0, description="Seconds a browser caches a CORS preflight.")
    admin: bool = Field(
        False,
        description="Serve the operator API at /admin/graphql (operator tokens from "
        "`cardcash admin operator create`).",
    )
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Client networks that may read /metrics without a token.",
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that opens /metrics from any address."
    )
    metrics_db_refresh_seconds: float = Field(
        15.0, ge=0, description="How long database-derived gauges are reused between scrapes."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object a line; text: for a terminal."
    )
    access_log_flush_seconds: float = Field(
        0.5,
        ge=0,
        le=60,
        description="How long a request's access line may wait to be written with the others "
        "of that moment (json format; 0: each at once). Lines still waiting are written at "
        "shutdown; a process killed outright loses at most this much of them.",
    )
    shutdown_timeout_seconds: float = Field(
        30.0, gt=0, description="How long in-flight requests may run on after SIGTERM."
    )

    graphiql: bool | None = Field(
        None, description="Serve GraphiQL; defaults to on in dev, off in prod."
    )
    introspection: bool | None = Field(
        None, description="Allow introspection; defaults like graphiql."
    )
    demo: bool | None = Field(
        None,
        description="Serve the mobile demo of the cash-advance flow at /demo; defaults to on "
        "in dev, off in prod.",
    )
    suggestions: bool | None = Field(
        None,
        description='"Did you mean …?" in errors about unknown fields, arguments, types and '
        "enum values; defaults like graphiql (they describe the schema to whoever asks).",
    )
    simulated_banks: bool | None = Field(
        None,
        description="Serve the simulated (sandbox) banks; on in dev, off in prod unless set to "
        "true. They move no money and answer under the real banks' codes.",
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
            "memory", "redis", "rediss", "redis+sentinel", "redis+cluster"
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
