"""`sojourn models run` and `sojourn models status`: ask the API and print the runs step by step."""

from __future__ import annotations

import argparse
import subprocess
import sys

SOJOURN = [sys.executable, "-m", "sojourn.cli"]

RUN = {
    "id": "models/2026-11-29", "run_id": "r1", "day": "2026-11-29", "status": "completed_with_failures",
    "started_at": "2026-11-30T00:00:05Z", "finished_at": "2026-11-30T00:01:05Z", "seconds": 60.0,
    "planned": ["ltv", "affinity", "churn"],
    "steps": [
        {"step": "ltv", "status": "done", "started_at": "2026-11-30T00:00:05Z", "seconds": 41.5, "error": None,
         "result": {"model": "ltv", "version": 3, "contacts": 100000, "changed": 1234, "reason": None, "metrics": {}}},
        {"step": "affinity", "status": "failed", "started_at": "2026-11-30T00:00:47Z", "seconds": 2.0,
         "error": "no products", "result": None},
    ],
    "current": {"step": "churn", "heartbeat": {"step": "churn", "seconds": 10.2}},
}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SOJOURN, "models", *args, "--key", "k"], capture_output=True, text=True, timeout=60)


def test_status_prints_each_run_and_its_steps(stub_api):
    api = stub_api([RUN])
    result = run("status", "--day", "2026-11-29", "--api", api.url)
    assert result.returncode == 0, result.stderr
    assert api.asked == ["/v1/models/runs?limit=5&day=2026-11-29"]
    assert result.stdout.splitlines() == [
        "2026-11-29  completed_with_failures in 60.0s  (started 2026-11-30T00:00:05Z, models/2026-11-29)",
        "  ltv: done in 41.5s: ltv version 3, 100,000 contacts, 1,234 values changed",
        "  affinity: failed after 2.0s: no products",
        "  churn: running (step churn, seconds 10.2)",
    ]


def test_run_posts_the_day_and_steps(stub_api):
    api = stub_api({"id": "models/2026-11-29", "run_id": "r1", "day": "2026-11-29", "status": "running"}, status=202)
    result = run("run", "--day", "2026-11-29", "--step", "ltv", "--api", api.url)
    assert result.returncode == 0, result.stderr
    assert api.bodies == [{"day": "2026-11-29", "steps": ["ltv"]}]
    assert result.stdout.strip() == "started models/2026-11-29 (the models for 2026-11-29)"


def test_a_refused_run_says_why_and_fails(stub_api):
    api = stub_api({"error": {"code": "conflict", "message": "the models run for 2026-11-29 is running"}}, status=409)
    result = run("run", "--api", api.url)
    assert result.returncode == 1 and api.bodies == [{}]
    assert "models run refused (409)" in result.stderr and "is running" in result.stderr


def test_run_wait_asks_until_the_run_it_started_has_finished(monkeypatch, capsys):
    from sojourn.cli import models

    running = {**RUN, "status": "running", "steps": RUN["steps"][:1]}
    answers = iter([{"id": "models/2026-11-29", "run_id": "r1", "day": "2026-11-29", "status": "running"},
                    [{**RUN, "run_id": "r0", "status": "completed"}], [running], [RUN]])
    asked = []

    def ask(args, method, path, what, **request):
        asked.append((method, path, request.get("params")))
        return next(answers)

    monkeypatch.setattr(models, "ask", ask)
    monkeypatch.setattr(models, "POLL_SECONDS", 0)
    code = models.cmd_run(argparse.Namespace(day=None, steps=None, wait=True))
    assert code == 1  # a step failed
    assert asked[0][:2] == ("POST", "/v1/models/runs")
    assert asked[1:] == [("GET", "/v1/models/runs", {"day": "2026-11-29", "limit": 1})] * 3
    assert "affinity: failed after 2.0s: no products" in capsys.readouterr().out
