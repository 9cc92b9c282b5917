"""`sojourn experiment JOURNEY`: asks the API for the journey's experiments and prints them as tables."""

from __future__ import annotations

import subprocess
import sys

SOJOURN = [sys.executable, "-m", "sojourn.cli"]


def _group(group: str, entrants: int, conversions: int, interval: list, against: str | None = None,
           difference: dict | None = None, node: str | None = None) -> dict:
    return {"group": group, "node": node, "entrants": entrants, "conversions": conversions,
            "conversion_rate": conversions / entrants, "interval": interval,
            "revenue_per_entrant": 3 * conversions / entrants, "against": against, "difference": difference,
            "too_small": entrants < 100}


RESULTS = {
    "journey_id": "shop", "confidence": 0.95,
    "holdout": {"percent": 10, "control": _group("holdout", 1000, 100, [0.083, 0.12]),
                "treated": _group("treated", 9000, 1080, [0.113, 0.127], "holdout",
                                  {"value": 0.02, "interval": [0.0005, 0.038], "p_value": 0.0412})},
    "splits": [{"node": "subject", "control": "holdout", "arms": [
        _group("a", 4500, 500, [0.102, 0.12], "holdout",
               {"value": 0.0111, "interval": [-0.01, 0.031], "p_value": 0.31}, node="subject"),
        _group("b", 50, 8, [0.083, 0.286], "holdout",
               {"value": 0.06, "interval": [-0.02, 0.19], "p_value": 0.18}, node="subject"),
    ]}],
    "warnings": ["b at subject: 50 entrants, 8 conversions; too few to rely on"],
}


def test_experiment_prints_each_comparison_and_the_warnings(stub_api):
    api = stub_api(RESULTS)
    result = subprocess.run([*SOJOURN, "experiment", "shop", "--api", api.url, "--key", "k"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert api.asked == ["/v1/journeys/shop/experiments"]
    lines = result.stdout.splitlines()
    assert lines[:3] == ["shop: conversions per contact", "", "holdout (10% held out)"]
    assert lines[3].split() == ["group", "entrants", "conv.", "rate", "95%", "interval", "vs", "difference", "95%",
                                "interval", "p-value", "revenue/entrant"]
    assert lines[4].split() == ["holdout", "1,000", "100", "10.00%", "[8.30%,", "12.00%]", "-", "-", "-", "-", "0.30"]
    assert lines[5].split() == ["treated", "9,000", "1,080", "12.00%", "[11.30%,", "12.70%]", "holdout", "+2.00%",
                                "[+0.05%,", "+3.80%]", "0.0412", "0.36"]
    assert lines[7] == "split subject (control: holdout)"
    assert lines[10].split()[:3] == ["b", "50", "8"]
    assert lines[-2:] == ["warnings:", "  b at subject: 50 entrants, 8 conversions; too few to rely on"]


def test_a_refused_experiment_says_why_and_fails(stub_api):
    api = stub_api({"error": {"code": "not_found", "message": "journey 'nope' not found"}}, status=404)
    result = subprocess.run([*SOJOURN, "experiment", "nope", "--api", api.url, "--key", "k"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "experiment refused (404)" in result.stderr and "journey 'nope' not found" in result.stderr
