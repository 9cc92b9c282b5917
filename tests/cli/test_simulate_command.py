"""`sojourn simulate JOURNEY --contact C --script FILE`: posts the script and prints the timeline."""

from __future__ import annotations

import subprocess
import sys

SOJOURN = [sys.executable, "-m", "sojourn.cli"]

ANSWER = {
    "journey": "offers", "version": 3, "contact": "ann", "status": "completed",
    "started_at": "2026-11-30T10:00:00+00:00", "ended_at": "2026-12-02T10:00:01+00:00", "exit_reason": None,
    "converted_at": None,
    "path": [
        {"node": "welcome", "type": "send", "entered_at": "2026-11-30T10:00:00+00:00",
         "left_at": "2026-11-30T10:00:00+00:00", "outcome": "sent"},
        {"node": "wait_2d", "type": "wait", "entered_at": "2026-11-30T10:00:00+00:00",
         "left_at": "2026-12-02T10:00:01+00:00", "outcome": None},
        {"node": "opened", "type": "branch", "entered_at": "2026-12-02T10:00:01+00:00",
         "left_at": "2026-12-02T10:00:01+00:00", "outcome": "then"},
    ],
    "decisions": [
        {"at": "2026-11-30T13:00:00+00:00", "node": "welcome", "kind": "engagement", "outcome": "opened",
         "reason": None},
        {"at": "2026-12-02T10:00:01+00:00", "node": "opened", "kind": "branch", "outcome": "then",
         "reason": "to 'end'"},
    ],
    "messages": [{"node": "welcome", "at": "2026-11-30T10:00:00+00:00", "status": "sent", "channel": "email",
                  "recipient": "ann@example.com", "subject": "Hi Ann", "payload": {"text": "Hi"}, "reason": None}],
}


def test_simulate_posts_the_script_and_prints_the_timeline(stub_api, tmp_path):
    api = stub_api(ANSWER)
    script = tmp_path / "script.yaml"
    script.write_text("- at: 3h\n  engagement: {kind: opened, node: welcome}\n- at: 4d\n  event: {name: booked}\n")
    result = subprocess.run([*SOJOURN, "simulate", "offers", "--contact", "ann", "--script", str(script),
                             "--version", "3", "--api", api.url, "--key", "k"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert api.asked == ["/v1/journeys/offers/simulate"]
    assert api.bodies == [{"contact_id": "ann", "version": 3, "script": [
        {"at": "3h", "engagement": {"kind": "opened", "node": "welcome"}}, {"at": "4d", "event": {"name": "booked"}}]}]
    assert result.stdout.splitlines() == [
        "offers (version 3) for ann: completed, from 2026-11-30T10:00:00+00:00 to 2026-12-02T10:00:01+00:00",
        "",
        "timeline:",
        "  2026-11-30T10:00:00+00:00  welcome (send) -> sent",
        "  2026-11-30T10:00:00+00:00  wait_2d (wait)",
        "  2026-11-30T13:00:00+00:00    engagement: welcome opened",
        "  2026-12-02T10:00:01+00:00  opened (branch) -> then",
        "  2026-12-02T10:00:01+00:00    branch: opened then (to 'end')",
        "",
        "messages:",
        "  2026-11-30T10:00:00+00:00  welcome: sent on email to ann@example.com: Hi Ann",
    ]


def test_a_refused_simulation_says_why_and_fails(stub_api, tmp_path):
    api = stub_api({"error": {"code": "invalid_script", "message": "script[0].engagement.node"}}, status=422)
    result = subprocess.run([*SOJOURN, "simulate", "offers", "--contact", "ann", "--api", api.url, "--key", "k"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "simulation refused (422)" in result.stderr and "script[0].engagement.node" in result.stderr
