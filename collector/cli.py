"""`clerk-collector`: serve, migrate, create-store, stores, create-admin, import, content,
purge, backup, demo, simulate."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
import time
from collections.abc import Iterator, Sequence

from .logs import LEVELS
from .origins import parse_origin
from .settings import ConfigError, Settings
from .storage import Storage
from .storage.stores import (
    NotFound,
    SlugTaken,
    create_admin,
    create_store,
    list_stores,
    parse_slug,
    stores_of_admin,
)


@contextlib.contextmanager
def _storage(settings: Settings) -> Iterator[Storage]:
    """The store, migrated; closed again when the command is done."""
    storage = Storage(settings.database_url)
    try:
        storage.migrate()
        yield storage
    finally:
        storage.dispose()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from . import logs

    logs.configure(args.log_level, settings.log_format)  # before anything can fail and log
    with _storage(settings):
        pass  # migrate once, before any worker starts
    from .metrics import serving
    from .serve import run

    with serving(settings, workers=args.workers):
        return run(args, settings)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    storage = Storage(settings.database_url)
    try:
        applied = storage.migrate()
    finally:
        storage.dispose()
    print(f"applied migrations {applied}" if applied else "schema is up to date")
    return 0


def cmd_create_store(args: argparse.Namespace, settings: Settings) -> int:
    origins = []
    for origin in args.origin:
        try:
            origins.append(parse_origin(origin))
        except ValueError as exc:
            raise ConfigError(f"--origin: {exc}") from None
    slug = None
    if args.slug is not None:
        try:
            slug = parse_slug(args.slug)
        except ValueError as exc:
            raise ConfigError(f"--slug: {exc}") from None
    with _storage(settings) as storage:
        try:
            keys = storage.run(
                create_store,
                name=args.name,
                origins=list(dict.fromkeys(origins)),
                now=int(time.time() * 1000),
                admin_emails=[email.lower() for email in args.admin],
                slug=slug,
            )
        except NotFound as exc:
            raise ConfigError(f"--admin: {exc.args[0]}") from None
        except SlugTaken as exc:
            raise ConfigError(f"--slug: {exc}") from None
    if args.json:
        print(json.dumps({k: keys[k] for k in ("public_key", "private_key", "slug")}))
    else:
        print(f"store:       {args.name}")
        print(f"public key:  {keys['public_key']}")
        print(f"private key: {keys['private_key']}  (shown once; only its hash is stored)")
        print(f"script:      /{keys['slug']}.js  (the key built in)")
    return 0


def cmd_stores(args: argparse.Namespace, settings: Settings) -> int:
    """Every store: name, public key, slug and the address of its own script."""
    with _storage(settings) as storage:
        found = storage.run(list_stores)
    if args.json:
        rows = [
            {"name": s.name, "public_key": s.public_key, "slug": s.slug, "script": f"/{s.slug}.js"}
            for s in found
        ]
        print(json.dumps(rows))
        return 0
    for s in found:
        print(f"{s.name}\t{s.public_key}\t/{s.slug}.js")
    return 0


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    password = args.password
    if password is None:
        if not sys.stdin.isatty():
            raise ConfigError("no --password given and no terminal to ask for one")
        password = getpass.getpass("password: ")
    if len(password) < 8:
        raise ConfigError("the password must have at least 8 characters")
    with _storage(settings) as storage:
        try:
            admin_id = storage.run(
                create_admin,
                email=args.email.lower(),
                password=password,
                now=int(time.time() * 1000),
                store_keys=args.store,
            )
        except NotFound as exc:
            raise ConfigError(f"--store: {exc.args[0]}") from None
        granted = storage.run(stores_of_admin, admin_id=admin_id)
    names = ", ".join(store.name for store in granted) or "none yet"
    print(f"admin {args.email.lower()} can log in; stores: {names}")
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from .storage.retention import purge

    now = int(time.time() * 1000)
    before = now - settings.retention_days * 86_400_000
    with _storage(settings) as storage:
        # In short transactions of its own: tracking goes on while it runs.
        counts = purge(storage, before_ms=before, now_ms=now, dry_run=args.dry_run)
    verb = "would delete or anonymise" if args.dry_run else "deleted or anonymised"
    cutoff = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(before / 1000))
    print(f"retention {settings.retention_days} days: {verb} what is older than {cutoff}")
    for name, count in counts.items():
        print(f"  {name}: {count}")
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from .storage.backup import BackupError, backup

    try:
        result = backup(settings.database_url, Path(args.target))
    except BackupError as exc:
        print(f"clerk-collector: backup: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.summary())
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from .importer import ImportFailed, import_file

    with _storage(settings) as storage:
        try:
            result = import_file(
                storage,
                kind=args.kind,
                path=args.file,
                store_key=args.store,
                batch_size=args.batch,
                dry_run=args.dry_run,
                progress=sys.stderr if sys.stderr.isatty() else None,
            )
        except ImportFailed as exc:
            print(f"clerk-collector: {exc}", file=sys.stderr)
            return 2
    print(result.summary())
    return 0


def _batch_size(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 100000, not {value!r}")
    return int(value)


def cmd_content(args: argparse.Namespace, settings: Settings) -> int:
    """content list | set FILE | delete ID...: a store's contents, checked as the API does."""
    from . import caps
    from .contents import check_contents
    from .errors import ApiError
    from .storage import contents as stored
    from .storage.stores import store_by_public_key

    with _storage(settings) as storage:
        store = storage.run(store_by_public_key, public_key=args.store)
        if store is None:
            raise ConfigError(f"--store: no store has the public key {args.store!r}")
        if args.action == "list":
            _print_contents(storage.run(stored.list_all, store_id=store.id))
            return 0
        if args.action == "delete":
            deleted = storage.run(stored.delete, store_id=store.id, ids=args.ids)
            missing = len(set(args.ids)) - deleted
            print(f"deleted {deleted} content(s)" + (f"; {missing} not found" if missing else ""))
            return 0
        try:
            with open(args.file, encoding="utf-8") if args.file != "-" else sys.stdin as file:
                data = json.load(file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.file}: {exc}") from None
        try:
            items = check_contents("contents", data if isinstance(data, list) else [data])
            saved = storage.run(
                stored.upsert,
                store_id=store.id,
                contents=items,
                now=int(time.time() * 1000),
                max_total=caps.CONTENTS_MAX,
            )
        except ApiError as exc:
            raise ConfigError(f"{args.file}: {exc.message}") from None
        except stored.TooManyContents as exc:
            raise ConfigError(f"{args.file}: contents: {exc}") from None
    print(f"saved {saved} content(s): {', '.join(item['id'] for item in items)}")
    return 0


def _print_contents(found: list[dict[str, object]]) -> None:
    if not found:
        print("no contents")
        return
    rows = [("ID", "API", "LIMIT", "LABELS", "DESIGN", "NAME")]
    for c in found:
        design = c["design"]
        shown = "default" if design is None else f"{len(str(design))} chars"
        labels = ", ".join(map(str, c["labels"])) if isinstance(c["labels"], list) else ""
        rows.append((str(c["id"]), str(c["api"]), str(c["limit"]), labels, shown, str(c["name"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import run_demo

    return run_demo(settings, host=args.host, port=args.port, shop_port=args.shop_port)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from .simulate import SimulationError, simulate

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    print(
        f"simulating {args.visitors} visitors over {args.days} days (seed {args.seed})",
        file=sys.stderr,
        flush=True,
    )
    try:
        result = simulate(
            settings,
            store_key=args.store,
            visitors=args.visitors,
            days=args.days,
            seed=args.seed,
            concurrency=args.concurrency,
            progress=progress,
        )
    except SimulationError as exc:
        print(f"clerk-collector: simulate: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.summary())
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="clerk-collector", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the collector")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--log-level",
        default="info",
        choices=LEVELS,
        help="default info; no level logs a client's address, query string or SQL values",
    )
    serve.add_argument(
        "--http",
        default="auto",
        choices=["auto", "httptools", "h11"],
        help="uvicorn's HTTP parser (default auto: httptools, installed with the collector)",
    )
    serve.add_argument(
        "--loop",
        default="auto",
        choices=["auto", "uvloop", "asyncio"],
        help="the event loop (default auto: uvloop, installed with the collector)",
    )
    serve.set_defaults(run=cmd_serve)

    sub.add_parser("migrate", help="bring the schema up to date").set_defaults(run=cmd_migrate)

    store = sub.add_parser("create-store", help="add a store and print its keys")
    store.add_argument("name")
    store.add_argument(
        "--origin",
        action="append",
        default=[],
        help="a shop origin (scheme and host) whose pages may call the collector, personal "
        "calls included (repeatable; without any, any page may send events but none may "
        "make personal calls)",
    )
    store.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="EMAIL",
        help="a dashboard admin who may see the new store (repeatable)",
    )
    store.add_argument(
        "--slug",
        help="the store's script address, /SLUG.js (a-z, 0-9 and -; default: from the name, "
        'e.g. "Demo Shop" -> demo-shop)',
    )
    store.add_argument("--json", action="store_true", help="print the keys and slug as JSON")
    store.set_defaults(run=cmd_create_store)

    listing = sub.add_parser(
        "stores", help="list the stores: name, public key and the address of each one's script"
    )
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    listing.set_defaults(run=cmd_stores)

    admin = sub.add_parser("create-admin", help="add (or reset) a dashboard user")
    admin.add_argument("email")
    admin.add_argument("--password")
    admin.add_argument(
        "--store",
        action="append",
        metavar="PUBLIC_KEY",
        help="a store the admin may see in the dashboard (repeatable); without --store, "
        "every store that exists now",
    )
    admin.set_defaults(run=cmd_create_admin)

    load = sub.add_parser(
        "import",
        help="load products, orders or customers from a JSON array or NDJSON file",
        description="Load products, orders or customers from a JSON array or NDJSON (one "
        "record a line). Records are checked as the API checks them and written in batches, "
        "one transaction each; a bad record stops the import before its batch is written. "
        "Products as the products API takes them; orders as {id, products: [{id, quantity, "
        "price} or id], time (Unix seconds or ISO 8601, UTC unless it says otherwise), "
        "email, customer}, each counted once however often it is imported; customers as "
        "{id, name, email, ...attributes}, each replaced by a later one with its id.",
    )
    load.add_argument(
        "kind",
        choices=["products", "orders", "customers"],
        metavar="KIND",
        help="products, orders or customers",
    )
    load.add_argument("file", metavar="FILE", help="a JSON array or NDJSON file; - reads stdin")
    load.add_argument("--store", required=True, metavar="PUBLIC_KEY", help="the store's public key")
    load.add_argument(
        "--batch",
        type=_batch_size,
        default=1000,
        metavar="N",
        help="records per transaction (default 1000)",
    )
    load.add_argument("--dry-run", action="store_true", help="check every record and write nothing")
    load.set_defaults(run=cmd_import)

    purge = sub.add_parser(
        "purge",
        help="apply retention: delete raw events, searches, baskets and email links older "
        "than RETENTION_DAYS and anonymise older orders (their totals, lines, attribution "
        "and the daily figures stay); safe to run while the collector serves",
    )
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    purge.set_defaults(run=cmd_purge)

    saved = sub.add_parser(
        "backup",
        help="copy the SQLite database to a new file, safely while the collector serves",
        description="Copy the SQLite database of DATABASE_URL to TARGET with SQLite's online "
        "backup API: a consistent copy as of one commit, made while the collector goes on "
        "writing, checked with integrity_check, readable by its owner only. TARGET must not "
        "exist. For PostgreSQL it says the pg_dump command to use instead. To restore, stop "
        "the collector and put the copy in the database's place (docs/DEPLOY.md).",
    )
    saved.add_argument("target", metavar="TARGET", help="the new backup file")
    saved.set_defaults(run=cmd_backup)

    content = sub.add_parser(
        "content",
        help="list, set or delete a store's contents (Clerk's data-template=\"@id\" slots)",
        description="A store's contents: list them; set them from a JSON file holding one "
        "content {id, name, api, limit, labels, arguments, design} or a list of them "
        "(checked as POST /v2/contents checks them: nothing is saved when one is bad); "
        "delete them by id.",
    )
    actions = content.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("list", "print the store's contents as a table"),
        ("set", "add or replace contents from a JSON file"),
        ("delete", "delete contents by id"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument(
            "--store", required=True, metavar="PUBLIC_KEY", help="the store's public key"
        )
        if name == "set":
            action.add_argument("file", metavar="FILE", help="a JSON file; - reads stdin")
        if name == "delete":
            action.add_argument("ids", nargs="+", metavar="ID", help="content ids")
        action.set_defaults(run=cmd_content)

    demo = sub.add_parser("demo", help="run collector and demo shop together on SQLite")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--shop-port", type=int, default=8001)
    demo.set_defaults(run=cmd_demo)

    sim = sub.add_parser(
        "simulate",
        help="write realistic synthetic traffic (views, clicks, searches, orders)",
        description="Send N visitors' visits over the D days before now through the "
        "collector's own API, in process: views, widget and search clicks, searches, "
        "baskets and orders, in all three visitor modes. The same seed sends the same traffic.",
    )
    sim.add_argument("--visitors", type=int, required=True, metavar="N", help="how many visitors")
    sim.add_argument("--days", type=int, required=True, metavar="D", help="over how many days")
    sim.add_argument("--store", required=True, metavar="PUBLIC_KEY", help="the store's public key")
    sim.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    sim.add_argument(
        "--concurrency",
        type=int,
        default=16,
        metavar="C",
        help="visits in flight at once (default 16; 1 makes a run fully repeatable)",
    )
    sim.set_defaults(run=cmd_simulate)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.run(args, settings))
    except ConfigError as exc:
        print(f"clerk-collector: {exc}", file=sys.stderr)
        return 2
