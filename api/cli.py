"""The ``cardcash`` command: serve, migrate, seed, export-schema, plugins, admin, reconcile,
assets."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from api.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings()
    except (SettingsError, ValidationError) as exc:
        sys.exit(f"cardcash: configuration error: {exc}")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api.logging_setup import logging_config

    # Each worker reads its settings from the environment: --host and --port go there, so
    # that CARDCASH_PUBLIC_URL (by default http://HOST:PORT) follows them too.
    if args.host:
        os.environ["CARDCASH_HOST"] = args.host
    if args.port:
        os.environ["CARDCASH_PORT"] = str(args.port)
    settings = _settings()  # fail fast, before workers start, on bad configuration
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        log_config=logging_config(
            settings.log_level, settings.log_format, settings.access_log_flush_seconds
        ),
        log_level=settings.log_level.lower(),
        # The app applies X-Forwarded-For itself, from CARDCASH_TRUSTED_PROXIES only.
        proxy_headers=False,
        access_log=False,
        server_header=False,
        ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


def cmd_migrate(args: argparse.Namespace) -> None:
    from db.migrate import upgrade

    settings = _settings()
    asyncio.run(upgrade(settings.database_url, args.revision))
    print(f"cardcash: database at revision {args.revision}")


def cmd_seed(args: argparse.Namespace) -> None:
    from api.runtime import database_for
    from api.services.catalog import CatalogFileError, SuspensionRefused, seed_catalog

    settings = _settings()

    async def run():
        db = database_for(settings)
        try:
            return await seed_catalog(db, settings.catalog_file, force=args.force)
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except (CatalogFileError, SuspensionRefused) as exc:
        sys.exit(f"cardcash: {exc}; nothing changed")
    for change in report.changes:
        print(f"  {change}")
    summary = f"{len(report.changes)} changes" if report.changes else "no changes"
    print(f"cardcash: catalog seeded ({report.banks} banks, {summary})")


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (a container without passwd entry): still say cli
        return "cli:unknown"


def cmd_admin(args: argparse.Namespace) -> None:
    from api import admin_cli
    from api.runtime import build_services
    from api.services.operators import OperationError

    settings = _settings()

    async def run() -> int:
        services = await build_services(settings)
        try:
            return await admin_cli.run(args, services, _actor())
        finally:
            await services.aclose()

    try:
        code = asyncio.run(run())
    except OperationError as exc:
        sys.exit(f"cardcash: {exc.code}: {exc}")
    sys.exit(code)


def cmd_reconcile(args: argparse.Namespace) -> None:
    from datetime import date

    from api.runtime import database_for, registry_for
    from api.services.reconciliation import Reconciler, Result, write_report

    settings = _settings()
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        sys.exit(f"cardcash: --date must be a day as YYYY-MM-DD, not {args.date!r}")
    directory = args.out or settings.data_dir / "reconciliation"

    async def run() -> list:
        db = database_for(settings)
        registry = registry_for(settings)
        try:
            codes = [args.bank] if args.bank else [i.code for i in registry.plugins]
            reconciler = Reconciler(db, registry)
            return [await reconciler.reconcile(code, day) for code in codes]
        finally:
            await registry.aclose()
            await db.dispose()

    reports = asyncio.run(run())
    for report in reports:
        json_path, _ = write_report(report, directory)
        sys.stdout.write(report.summary())
        print(f"  report: {json_path}")
    results = {r.result for r in reports}
    if Result.DISCREPANCIES in results:
        sys.exit(1)
    if Result.FAILED in results or (args.bank and Result.UNSUPPORTED in results):
        sys.exit(2)


def cmd_export_schema(args: argparse.Namespace) -> None:
    if args.admin:
        from api.schema.admin import admin_schema as schema
    else:
        from api.schema import schema

    sys.stdout.write(schema.as_str() + "\n")


def cmd_plugins(args: argparse.Namespace) -> None:
    from api.plugins import PLUGIN_COLUMNS, describe_plugins

    settings = _settings()
    rows, warning = asyncio.run(describe_plugins(settings))
    table = [PLUGIN_COLUMNS, *rows]
    # Every column but the last (the status, of any length) as wide as its widest value.
    widths = [max(len(row[i]) for row in table) for i in range(len(PLUGIN_COLUMNS) - 1)]
    for row in table:
        cells = [f"{value:<{width}}" for value, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    if warning:
        print(f"\n!! {warning}")
        print(f"cardcash: {warning}", file=sys.stderr)


def cmd_assets(args: argparse.Namespace) -> None:
    from api import vendor

    try:
        written = vendor.fetch()
    except (vendor.VendorError, OSError) as exc:
        sys.exit(f"cardcash: GraphiQL's files could not be installed: {exc}")
    except Exception as exc:  # the registry unreachable: say so, not a traceback
        sys.exit(f"cardcash: GraphiQL's files could not be downloaded: {type(exc).__name__}: {exc}")
    if written:
        print(f"cardcash: GraphiQL's files installed and verified ({', '.join(written)})")
    else:
        print("cardcash: GraphiQL's files already installed and verified")


def cmd_persisted_manifest(args: argparse.Namespace) -> None:
    import json

    from api.manifest import ManifestProblem, build_manifest
    from api.schema import schema

    try:
        manifest = build_manifest(schema._schema, [Path(p) for p in args.documents])
    except ManifestProblem as exc:
        sys.exit(f"{exc}\ncardcash: no manifest written")
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(
            f"cardcash: {len(manifest['operations'])} operations written to {args.output}",
            file=sys.stderr,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cardcash", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve GraphQL over HTTP (uvicorn)")
    serve.add_argument("--host", help="address to bind (CARDCASH_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (CARDCASH_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="processes (CARDCASH_WORKERS, default 1)")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(func=cmd_migrate)

    seed = sub.add_parser(
        "seed",
        help="load the bank catalog data file (CARDCASH_CATALOG_FILE, or the packaged one); "
        "prints every change, suspends banks missing from the file",
    )
    seed.add_argument(
        "--force",
        action="store_true",
        help="suspend banks even where withdrawals are in flight (they still finish)",
    )
    seed.set_defaults(func=cmd_seed)
    export = sub.add_parser("export-schema", help="print the GraphQL SDL")
    export.add_argument(
        "--admin", action="store_true", help="the operator API's (/admin/graphql) instead"
    )
    export.set_defaults(func=cmd_export_schema)
    sub.add_parser("plugins", help="list bank provider plugins").set_defaults(func=cmd_plugins)

    from api import admin_cli

    admin_cli.add_parser(sub).set_defaults(func=cmd_admin)

    reconcile = sub.add_parser(
        "reconcile",
        help="compare a day's withdrawals with each bank's statement; exit 1 on any "
        "discrepancy, 2 when a bank could not be reconciled",
    )
    reconcile.add_argument("--date", required=True, help="the business day (Asia/Shanghai)")
    reconcile.add_argument("--bank", help="only this bank (default: every installed plugin)")
    reconcile.add_argument(
        "--out", type=Path, help="where the reports go (default: CARDCASH_DATA_DIR/reconciliation)"
    )
    reconcile.set_defaults(func=cmd_reconcile)

    sub.add_parser(
        "assets", help="download and verify GraphiQL's pinned files (api/static/vendor.lock.json)"
    ).set_defaults(func=cmd_assets)

    manifest = sub.add_parser(
        "persisted-manifest",
        help="write Apollo's persisted query manifest of a front end's .graphql documents "
        "(files or folders), each validated against the schema",
    )
    manifest.add_argument("documents", nargs="+", help=".graphql files, or folders of them")
    manifest.add_argument("-o", "--output", help="the manifest file (default: stdout)")
    manifest.set_defaults(func=cmd_persisted_manifest)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
