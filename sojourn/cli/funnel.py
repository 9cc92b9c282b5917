"""`sojourn funnel JOURNEY`: a journey's funnel (GET /v1/journeys/{id}/funnel) as a table."""

from __future__ import annotations

import argparse

from sojourn.cli.remote import add_api_options, ask

_SEND_COLUMNS = ("sent", "skipped", "failed", "deferred", "delivered", "opens", "clicks", "unsubscribes",
                 "conversions")


def add_command(commands) -> None:
    funnel = commands.add_parser("funnel", help="a journey's funnel, node by node, as a table",
                                 description="Asks GET /v1/journeys/JOURNEY/funnel and prints it.")
    funnel.add_argument("journey")
    funnel.add_argument("--version", type=int, help="one version (default: all)")
    funnel.add_argument("--from", dest="from_", metavar="FROM", help="runs that entered from this date or time")
    funnel.add_argument("--to", help="... until this date (its whole day) or time")
    add_api_options(funnel)
    funnel.set_defaults(func=cmd_funnel)


def cmd_funnel(args: argparse.Namespace) -> int:
    params = {name: value for name, value in (("version", args.version), ("from", args.from_), ("to", args.to))
              if value is not None}
    funnel = ask(args, "GET", f"/v1/journeys/{args.journey}/funnel", "funnel", params=params)
    if funnel is None:
        return 1
    print("\n".join(render(funnel)))
    return 0


def render(funnel: dict) -> list[str]:
    """The funnel's lines: the journey's runs, a table of its nodes, then skips by reason."""
    runs = funnel["journey"]
    version = f"version {funnel['version']}" if funnel["version"] is not None else "all versions"
    since, until = funnel["from"] or "the start", funnel["to"] or "now"
    exited = ", ".join(f"{reason} {n:,}" for reason, n in runs["exited"]["by_reason"].items())
    rate = f" ({runs['conversion_rate']:.1%})" if runs["conversion_rate"] is not None else ""
    revenue = f", revenue {runs['revenue']:,.2f}" if runs["revenue"] is not None else ""
    lines = [f"{funnel['journey_id']} ({version}), runs that entered from {since} to {until}",
             f"runs: {runs['entered']:,} entered, {runs['active']:,} active, {runs['completed']:,} completed, "
             f"{runs['cancelled']:,} cancelled, {runs['exited']['total']:,} exited" + (f" ({exited})" if exited else "")
             + f", {runs['converted']:,} converted{rate}{revenue}", ""]
    header = ["node", "type", "entered", "here", "left by", *_SEND_COLUMNS]
    table = [header]
    for node in funnel["nodes"]:
        left = ", ".join(f"{way} {n:,}" for way, n in node["left"].items()) or "-"
        send = node.get("send")
        cells = [_send_cell(send, column) if send else "" for column in _SEND_COLUMNS]
        table.append([node["id"], node["type"], f"{node['entered']:,}", f"{node['here']:,}", left, *cells])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:  # names and ways out left-aligned, numbers right-aligned
        lines.append("  ".join(cell.ljust(width) if i in (0, 1, 4) else cell.rjust(width)
                               for i, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip())
    skips = [(node["id"], reason, n) for node in funnel["nodes"] if node.get("send")
             for reason, n in node["send"]["skipped"]["by_reason"].items()]
    if skips:
        lines += ["", "skipped by reason:"] + [f"  {node}: {reason}: {n:,}" for node, reason, n in skips]
    return lines


def _send_cell(send: dict, column: str) -> str:
    value = send[column]
    if column == "skipped":
        return f"{value['total']:,}"
    if column in ("opens", "clicks"):
        return f"{value['unique']:,}/{value['total']:,}"
    return f"{value:,}"
