"""`sojourn models run [--day D] [--wait]` starts a nightly models run (POST /v1/models/runs);
`sojourn models status` shows the recent runs and their steps (GET /v1/models/runs)."""

from __future__ import annotations

import argparse
import time

from sojourn.cli.remote import add_api_options, ask

# How often `--wait` asks whether the run has finished.
POLL_SECONDS = 2.0


def add_command(commands) -> None:
    models = commands.add_parser("models", help="the nightly predictive models: run them, see their runs")
    subcommands = models.add_subparsers(dest="models_command", required=True)
    run = subcommands.add_parser("run", help="run the model steps for a day now",
                                 description="Asks POST /v1/models/runs; refused (409) while that day's run runs.")
    run.add_argument("--day", help="the day (2026-11-30) whose data the models fit; default: the day that just ended")
    run.add_argument("--step", action="append", dest="steps", metavar="STEP",
                     help="only this step (repeat for more); default: every step")
    run.add_argument("--wait", action="store_true", help="wait for the run to finish and print it; "
                                                         "exits 1 if a step failed")
    add_api_options(run)
    run.set_defaults(func=cmd_run)
    status = subcommands.add_parser("status", help="the recent runs, step by step",
                                    description="Asks GET /v1/models/runs and prints each run and its steps.")
    status.add_argument("--day", help="only this day's runs")
    status.add_argument("--limit", type=int, default=5, help="how many runs (default 5)")
    add_api_options(status)
    status.set_defaults(func=cmd_status)


def cmd_run(args: argparse.Namespace) -> int:
    body = {name: value for name, value in (("day", args.day), ("steps", args.steps)) if value is not None}
    started = ask(args, "POST", "/v1/models/runs", "models run", json=body)
    if started is None:
        return 1
    print(f"started {started['id']} (the models for {started['day']})")
    if not args.wait:
        return 0
    while True:
        runs = ask(args, "GET", "/v1/models/runs", "models status", params={"day": started["day"], "limit": 1})
        if runs is None:
            return 1
        if runs and runs[0]["run_id"] == started["run_id"] and runs[0]["status"] != "running":
            print("\n".join(render(runs[0])))
            return 0 if runs[0]["status"] == "completed" else 1
        time.sleep(POLL_SECONDS)


def cmd_status(args: argparse.Namespace) -> int:
    params = {"limit": args.limit, **({"day": args.day} if args.day else {})}
    runs = ask(args, "GET", "/v1/models/runs", "models status", params=params)
    if runs is None:
        return 1
    if not runs:
        print("no models runs yet")
    for run in runs:
        print("\n".join(render(run)))
    return 0


def render(run: dict) -> list[str]:
    """A run's heading, then a line per step: done (what it stored), failed (why), running, or to come."""
    took = f" in {run['seconds']:.1f}s" if run["seconds"] is not None else ""
    lines = [f"{run['day']}  {run['status']}{took}  (started {run['started_at']}, {run['id']})"]
    finished = {step["step"]: step for step in run["steps"]}
    for name in run["planned"]:
        step = finished.get(name)
        if step is None and run["current"] and run["current"]["step"] == name:
            heartbeat = run["current"]["heartbeat"]
            lines.append(f"  {name}: running" + (f" ({_details(heartbeat)})" if heartbeat else ""))
        elif step is None:
            lines.append(f"  {name}: not run")
        elif step["status"] == "failed":
            lines.append(f"  {name}: failed after {step['seconds']:.1f}s: {step['error']}")
        else:
            result = step["result"]
            version = (f"version {result['version']}" if result["version"] is not None
                       else f"no version ({result['reason']})")
            lines.append(f"  {name}: done in {step['seconds']:.1f}s: {result['model']} {version}, "
                         f"{result['contacts']:,} contacts, {result['changed']:,} values changed")
    return lines


def _details(heartbeat: object) -> str:
    if isinstance(heartbeat, dict):
        return ", ".join(f"{key} {value}" for key, value in heartbeat.items())
    return str(heartbeat)
