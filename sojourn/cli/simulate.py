"""`sojourn simulate JOURNEY --contact C --script FILE`: POST /v1/journeys/{id}/simulate, printed
as the run's timeline (virtual times), its decisions and its messages."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sojourn.cli.remote import add_api_options, ask


def add_command(commands) -> None:
    simulate = commands.add_parser(
        "simulate", help="simulate a journey for one contact and a script, sending and recording nothing",
        description="Asks POST /v1/journeys/JOURNEY/simulate and prints the path, the decisions and the messages. "
                    "The script is a YAML (or JSON) list of lines such as `- {at: 3h, engagement: {kind: opened, "
                    "node: welcome}}` or `- {at: 4d, event: {name: booked}}`.")
    simulate.add_argument("journey")
    simulate.add_argument("--contact", required=True, help="the stored contact's external id")
    simulate.add_argument("--script", type=Path, help="the script file (default: no events, no engagement)")
    simulate.add_argument("--version", type=int, help="the journey version (default: the latest)")
    simulate.add_argument("--json", action="store_true", help="print the API's answer as it is")
    add_api_options(simulate)
    simulate.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    import yaml

    script = []
    if args.script is not None:
        try:
            script = yaml.safe_load(args.script.read_text()) or []
        except (OSError, yaml.YAMLError) as err:
            print(f"cannot read the script {args.script}: {err}", file=sys.stderr)
            return 1
    body = {"contact_id": args.contact, "script": script}
    if args.version is not None:
        body["version"] = args.version
    answer = ask(args, "POST", f"/v1/journeys/{args.journey}/simulate", "simulation", timeout=120.0, json=body)
    if answer is None:
        return 1
    print(json.dumps(answer, indent=2) if args.json else "\n".join(render(answer)))
    return 0


def render(answer: dict) -> list[str]:
    """The timeline: each step and decision at its time, then each message as it would go."""
    ending = f"{answer['status']}" + (f" ({answer['exit_reason']})" if answer["exit_reason"] else "")
    lines = [f"{answer['journey']} (version {answer['version']}) for {answer['contact']}: {ending}, "
             f"from {answer['started_at']} to {answer['ended_at']}"]
    if answer["converted_at"]:
        lines.append(f"converted at {answer['converted_at']}")
    events = [(step["entered_at"], 0, f"{step['node']} ({step['type']})"
               + (f" -> {step['outcome']}" if step["outcome"] else "")) for step in answer["path"]]
    events += [(d["at"], 1, f"  {d['kind']}: {d['node'] + ' ' if d['node'] else ''}{d['outcome']}"
                + (f" ({d['reason']})" if d["reason"] else "")) for d in answer["decisions"]]
    lines += ["", "timeline:"] + [f"  {at}  {text}" for at, _, text in sorted(events, key=lambda e: (e[0], e[1]))]
    lines += ["", "messages:"]
    for message in answer["messages"]:
        lines.append(f"  {message['at']}  {message['node']}: {message['status']} on {message['channel']} to "
                     f"{message['recipient']}" + (f": {message['subject']}" if message["subject"] else "")
                     + (f" ({message['reason']})" if message["reason"] else ""))
    return lines
