"""`sojourn funnel JOURNEY`: asks the API for the funnel and prints it as a table."""

from __future__ import annotations

import subprocess
import sys

SOJOURN = [sys.executable, "-m", "sojourn.cli"]


def _send(sent: int, skipped: dict, opens: tuple, conversions: int, revenue: float) -> dict:
    return {"sent": sent, "unconfirmed": 0, "skipped": {"total": sum(skipped.values()), "by_reason": skipped},
            "failed": 0, "deferred": 1, "delivered": sent, "opens": {"unique": opens[0], "total": opens[1]},
            "clicks": {"unique": 2, "total": 3}, "unsubscribes": 4, "bounces": 0, "complaints": 0, "conversions": conversions,
            "revenue": revenue}


FUNNEL = {
    "journey_id": "shop", "version": 2, "from": "2026-11-01T00:00:00Z", "to": None,
    "journey": {"entered": 1200, "active": 3, "completed": 1100, "cancelled": 0,
                "exited": {"total": 97, "by_reason": {"exit_on: opt.out": 97}}, "converted": 150,
                "conversion_rate": 0.125, "revenue": 4321.5},
    "nodes": [
        {"id": "welcome", "type": "send", "entered": 1200, "here": 1, "left": {"sent": 1189, "skipped": 10},
         "send": _send(1189, {"no email address": 10}, (600, 900), 40, 1000.0)},
        {"id": "engaged", "type": "branch", "entered": 1102, "here": 0, "left": {"then": 600, "else": 502},
         "send": None},
        {"id": "end", "type": "exit", "entered": 0, "here": 0, "left": {}, "send": None},
    ],
}


def test_funnel_prints_the_journey_and_a_table_of_its_nodes(stub_api):
    api = stub_api(FUNNEL)
    result = subprocess.run([*SOJOURN, "funnel", "shop", "--version", "2", "--from", "2026-11-01", "--api",
                             api.url, "--key", "k"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert api.asked == ["/v1/journeys/shop/funnel?version=2&from=2026-11-01"]
    assert result.stdout.splitlines() == [
        "shop (version 2), runs that entered from 2026-11-01T00:00:00Z to now",
        "runs: 1,200 entered, 3 active, 1,100 completed, 0 cancelled, 97 exited (exit_on: opt.out 97), "
        "150 converted (12.5%), revenue 4,321.50",
        "",
        "node     type    entered  here  left by                  sent  skipped  failed  deferred  delivered"
        "    opens  clicks  unsubscribes  conversions",
        "welcome  send      1,200     1  sent 1,189, skipped 10  1,189       10       0         1      1,189"
        "  600/900     2/3             4           40",
        "engaged  branch    1,102     0  then 600, else 502",
        "end      exit          0     0  -",
        "",
        "skipped by reason:",
        "  welcome: no email address: 10",
    ]


def test_a_refused_funnel_says_why_and_fails(stub_api):
    api = stub_api({"error": {"code": "not_found", "message": "journey 'nope' not found"}}, status=404)
    result = subprocess.run([*SOJOURN, "funnel", "nope", "--api", api.url, "--key", "k"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "funnel refused (404)" in result.stderr and "journey 'nope' not found" in result.stderr
