"""The long-lived objects of one process, built at start-up from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from api.banks.guard import BreakerObserver, CallObserver
from api.banks.registry import Registry, load_providers
from api.services.accounts import Accounts
from api.services.banks import Banks
from api.services.cards import Cards
from api.services.catalog import Catalog, Channel
from api.services.channels import (
    AlipayAdapter,
    AlipayConfig,
    ChannelRouter,
    WeChatAdapter,
    WeChatConfig,
)
from api.services.events import ChangeFeed, PostgresChangeFeed
from api.services.exposure import Exposure, ExposurePolicy
from api.services.limits import Limit, RateLimits
from api.services.login import LoginService
from api.services.operations import Operations
from api.services.operators import Operators
from api.services.quotes import Quotes
from api.services.reconciliation import Reconciler
from api.services.sessions import Sessions, SessionTokens
from api.services.status_sync import StatusSync
from api.services.withdrawals import SyncPolicy, Withdrawals
from api.settings import Settings
from db.engine import Database, EngineOptions


@dataclass
class Services:
    """Everything a request may use. Built once per process by :func:`build_services`."""

    settings: Settings
    db: Database
    catalog: Catalog
    registry: Registry
    tokens: SessionTokens
    sessions: Sessions
    accounts: Accounts
    login: LoginService
    cards: Cards
    banks: Banks
    quotes: Quotes
    exposure: Exposure
    withdrawals: Withdrawals
    feed: ChangeFeed
    status_sync: StatusSync
    limits: RateLimits
    http: httpx.AsyncClient
    operators: Operators
    operations: Operations
    reconciler: Reconciler

    async def start(self) -> None:
        await self.feed.start()
        if self.settings.status_sync:
            self.status_sync.start()

    async def aclose(self) -> None:
        await self.status_sync.stop()
        await self.feed.stop()
        await self.registry.aclose()
        await self.http.aclose()
        await self.db.dispose()


def database_for(settings: Settings) -> Database:
    return Database(
        settings.database_url,
        EngineOptions(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            connect_timeout=settings.db_connect_timeout,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        ),
    )


def registry_for(
    settings: Settings,
    *,
    on_call: CallObserver | None = None,
    on_breaker_change: BreakerObserver | None = None,
) -> Registry:
    """The bank providers; the observers see every bank call and breaker change (metrics)."""
    return load_providers(
        enabled=settings.banks_enabled,
        blocked=settings.banks_blocked,
        data_dir=settings.data_dir,
        options=settings.bank_options,
        on_call=on_call,
        on_breaker_change=on_breaker_change,
        simulated=settings.simulated_banks_enabled,
    )


def simulated_banks_warning(registry: Registry, settings: Settings) -> str | None:
    """What to tell an operator when simulated banks serve, or None when none does."""
    codes = registry.simulated
    if not codes:
        return None
    where = "IN PRODUCTION" if settings.is_prod else "in dev"
    return (
        f"SIMULATED BANKS ARE SERVING {where}: {', '.join(codes)} answer under real bank "
        "codes and move no money. Install the banks' real plugins"
        + (", and unset CARDCASH_SIMULATED_BANKS." if settings.is_prod else " before going live.")
    )


def channel_routers(settings: Settings, http: httpx.AsyncClient) -> dict[Channel, ChannelRouter]:
    """One router per channel: the real adapter where configured, sandbox codes in dev."""
    wechat = alipay = None
    if settings.wechat_app_id and settings.wechat_app_secret:
        wechat = WeChatAdapter(
            WeChatConfig(
                app_id=settings.wechat_app_id,
                app_secret=settings.wechat_app_secret.get_secret_value(),
                base_url=settings.wechat_api_url,
                timeout=settings.channel_timeout,
            ),
            client=http,
        )
    if settings.alipay_app_id and settings.alipay_private_key:
        alipay = AlipayAdapter(
            AlipayConfig(
                app_id=settings.alipay_app_id,
                private_key_pem=settings.alipay_private_key.get_secret_value(),
                alipay_public_key_pem=settings.alipay_public_key or None,
                gateway=settings.alipay_gateway,
                timeout=settings.channel_timeout,
            ),
            client=http,
        )
    sandbox = settings.sandbox_login_enabled
    return {
        Channel.WECHAT: ChannelRouter(Channel.WECHAT, real=wechat, sandbox_enabled=sandbox),
        Channel.ALIPAY: ChannelRouter(Channel.ALIPAY, real=alipay, sandbox_enabled=sandbox),
    }


async def build_services(
    settings: Settings,
    *,
    on_call: CallObserver | None = None,
    on_breaker_change: BreakerObserver | None = None,
) -> Services:
    db = database_for(settings)
    catalog = Catalog(
        db, public_url=settings.public_url, cache_seconds=settings.catalog_cache_seconds
    )
    registry = registry_for(settings, on_call=on_call, on_breaker_change=on_breaker_change)
    http = httpx.AsyncClient()
    tokens = SessionTokens(settings.signing_key, timedelta(seconds=settings.session_ttl_seconds))
    accounts = Accounts(db)
    cards = Cards(db, registry, catalog, refresh_seconds=settings.cards_refresh_seconds)
    exposure = Exposure(
        db,
        ExposurePolicy(
            person_daily_cap=settings.person_daily_cap, high_cost_apr=settings.high_cost_apr
        ),
    )
    banks = Banks(catalog, registry, cards, high_cost=exposure.policy.high_cost)
    quotes = Quotes(
        db, banks, cards, ttl=timedelta(seconds=settings.quote_ttl_seconds), exposure=exposure
    )
    feed = (
        ChangeFeed()
        if db.is_sqlite
        else PostgresChangeFeed.for_url(
            settings.database_url, connect_timeout=settings.db_connect_timeout
        )
    )
    withdrawals = Withdrawals(
        db,
        registry,
        banks,
        cards,
        quotes,
        feed,
        exposure=exposure,
        policy=SyncPolicy(
            first_delay=timedelta(seconds=settings.sync_first_delay_seconds),
            max_delay=timedelta(seconds=settings.sync_max_delay_seconds),
            verification_window=timedelta(seconds=settings.verification_window_seconds),
            max_verification_attempts=settings.max_verification_attempts,
        ),
    )
    minute = 60.0
    return Services(
        settings=settings,
        db=db,
        catalog=catalog,
        registry=registry,
        tokens=tokens,
        sessions=Sessions(db, staleness=settings.session_check_seconds),
        accounts=accounts,
        login=LoginService(channel_routers(settings, http), accounts, tokens),
        cards=cards,
        banks=banks,
        quotes=quotes,
        exposure=exposure,
        withdrawals=withdrawals,
        feed=feed,
        status_sync=StatusSync(
            withdrawals, registry.codes, interval=settings.sync_interval_seconds
        ),
        limits=RateLimits(
            login=Limit(settings.rate_login_per_minute, minute),
            money_per_user=Limit(settings.rate_money_per_minute, minute),
            per_address=Limit(settings.rate_address_per_minute, minute),
            quote_per_user=Limit(settings.rate_quote_per_minute, minute),
            storage=settings.rate_limit_storage,
        ),
        http=http,
        operators=Operators(db),
        operations=Operations(db, catalog, registry, withdrawals, cards, quotes),
        reconciler=Reconciler(db, registry),
    )
