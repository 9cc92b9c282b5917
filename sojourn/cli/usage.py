"""`sojourn usage`: messages, billable units and cost (GET /v1/usage) as a table."""

from __future__ import annotations

import argparse

from sojourn.cli.remote import add_api_options, ask


def add_command(commands) -> None:
    usage = commands.add_parser("usage", help="messages, billable units and cost, as a table",
                                description="Asks GET /v1/usage and prints its rows and their total.")
    usage.add_argument("--from", dest="from_", metavar="FROM", help="a date (2026-11-01) or time; default 30 days ago")
    usage.add_argument("--to", help="a date (its whole day) or time; default now")
    usage.add_argument("--by", default="day,channel", help="groups, comma-separated: day, channel, journey, status")
    add_api_options(usage)
    usage.set_defaults(func=cmd_usage)


def cmd_usage(args: argparse.Namespace) -> int:
    params = {"group_by": args.by, **{name: value for name, value in (("from", args.from_), ("to", args.to)) if value}}
    usage = ask(args, "GET", "/v1/usage", "usage", timeout=30.0, params=params)
    if usage is None:
        return 1
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
