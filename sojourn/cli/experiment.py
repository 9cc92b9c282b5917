"""`sojourn experiment JOURNEY`: a journey's experiments (GET /v1/journeys/{id}/experiments) as a table."""

from __future__ import annotations

import argparse

from sojourn.cli.remote import add_api_options, ask

_HEADER = ("group", "entrants", "conv.", "rate", "95% interval", "vs", "difference", "95% interval", "p-value",
           "revenue/entrant")


def add_command(commands) -> None:
    experiment = commands.add_parser("experiment", help="a journey's split arms and holdout against their controls",
                                     description="Asks GET /v1/journeys/JOURNEY/experiments and prints it.")
    experiment.add_argument("journey")
    add_api_options(experiment)
    experiment.set_defaults(func=cmd_experiment)


def cmd_experiment(args: argparse.Namespace) -> int:
    results = ask(args, "GET", f"/v1/journeys/{args.journey}/experiments", "experiment")
    if results is None:
        return 1
    print("\n".join(render(results)))
    return 0


def render(results: dict) -> list[str]:
    """One table per comparison (the holdout, each split), then the warnings."""
    lines = [f"{results['journey_id']}: conversions per contact"]
    holdout = results["holdout"]
    if holdout is not None:
        share = f" ({holdout['percent']:g}% held out)" if holdout["percent"] is not None else ""
        lines += ["", f"holdout{share}", *_table([holdout["control"], holdout["treated"]])]
    for split in results["splits"]:
        lines += ["", f"split {split['node']} (control: {split['control']})", *_table(split["arms"])]
    if not holdout and not results["splits"]:
        lines += ["", "no split node and no holdout"]
    if results["warnings"]:
        lines += ["", "warnings:"] + [f"  {warning}" for warning in results["warnings"]]
    return lines


def _table(groups: list[dict]) -> list[str]:
    rows = [list(_HEADER)] + [_row(group) for group in groups]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    return ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                      for i, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]


def _row(group: dict) -> list[str]:
    difference = group["difference"]
    return [group["group"], f"{group['entrants']:,}", f"{group['conversions']:,}", _percent(group["conversion_rate"]),
            _interval(group["interval"]), group["against"] or "-",
            _percent(difference["value"], signed=True) if difference else "-",
            _interval(difference["interval"], signed=True) if difference else "-",
            f"{difference['p_value']:.3g}" if difference else "-",
            f"{group['revenue_per_entrant']:,.2f}" if group["revenue_per_entrant"] is not None else "-"]


def _percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if signed else f"{value:.2%}"


def _interval(bounds: list[float] | None, signed: bool = False) -> str:
    if bounds is None:
        return "-"
    return f"[{_percent(bounds[0], signed)}, {_percent(bounds[1], signed)}]"
