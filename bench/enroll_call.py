"""How long one enroll call of 1,000 contacts takes to answer, over HTTP, as deployed.

The API (`python -m api`, uvicorn, its own process) and a journey worker (`worker_process.py`,
its own process) run on the embedded stack. Each round posts 1,000 new contacts to
`POST /v1/journeys/{id}/enrollments` of a journey that waits 30 days (so the runs stay, and
no mail competes for the CPU), and measures the answer's time; then follows the Location until
every contact has its result (all must be `started`); then posts the same call again, which
must answer with the same results and start nothing (the journey's run count must not move).

    .venv/bin/python bench/enroll_call.py [--contacts 1000] [--rounds 3]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from datetime import datetime, timezone

import httpx
from ingest import API_KEY, ApiProcess
from sqlalchemy import func, select

from sojourn.data.models import JourneyRun

from common import WorkerProcess, add_contacts, bench_stack, machine, print_result, setup_logging

log = logging.getLogger("bench.enroll_call")

JOURNEY = {"name": "Waits a month", "nodes": [
    {"id": "wait", "type": "wait", "duration": "30d", "next": "end"}, {"id": "end", "type": "exit"}]}


async def runs_of(stack, journey: str) -> int:
    async with stack.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(JourneyRun)
                                   .where(JourneyRun.journey_id == journey))).scalar_one()


async def one_round(stack, http: httpx.AsyncClient, number: int, contacts: int, timeout: float) -> dict:
    journey = f"bench-call-{number}"
    assert (await http.post("/v1/journeys", json={"id": journey, "definition": JOURNEY})).status_code == 201
    assert (await http.post(f"/v1/journeys/{journey}/activate")).status_code == 200
    ids = await add_contacts(stack.engine, f"call-{number}", contacts)
    path = f"/v1/journeys/{journey}/enrollments"

    began = time.perf_counter()
    answer = await http.post(path, json={"contacts": ids})
    answered = time.perf_counter() - began
    if answer.status_code not in (200, 202):
        raise RuntimeError(f"enroll answered {answer.status_code}: {answer.text[:300]}")
    if answer.status_code == 202:
        location = answer.headers["location"]
        while True:
            state = (await http.get(location)).json()
            if state.get("status") == "completed":
                break
            if time.perf_counter() - began > timeout:
                raise TimeoutError(f"{journey}: {len(state.get('results', []))}/{contacts} after {timeout}s")
            await asyncio.sleep(0.5)
    else:
        state = answer.json()
    completed = time.perf_counter() - began
    statuses = {r["status"] for r in state["results"]}
    if len(state["results"]) != contacts or statuses != {"started"}:
        raise RuntimeError(f"{journey}: {len(state['results'])} results, statuses {statuses}")
    runs = await runs_of(stack, journey)

    began = time.perf_counter()
    again = await http.post(path, json={"contacts": ids})
    again_answered = time.perf_counter() - began
    same = again.json().get("results") == state["results"] and await runs_of(stack, journey) == runs == contacts
    log.info("round %d: answered %s in %.2f s, every result in %.2f s; again in %.2f s, same: %s (load %.1f)",
             number, answer.status_code, answered, completed, again_answered, same, os.getloadavg()[0])
    return {"status": answer.status_code, "answer_s": round(answered, 3), "all_results_s": round(completed, 2),
            "repeat_answer_s": round(again_answered, 3), "repeat_same_and_nothing_started": same,
            "load_1m": round(os.getloadavg()[0], 2)}


async def main(args: argparse.Namespace) -> dict:
    async with bench_stack(keep=args.keep) as stack:
        async with WorkerProcess(stack, "journey", stack.settings.task_queue), ApiProcess(stack) as api:
            async with httpx.AsyncClient(base_url=api.url, timeout=300,
                                         headers={"Authorization": f"Bearer {API_KEY}"}) as http:
                rounds = [await one_round(stack, http, number, args.contacts, args.timeout)
                          for number in range(args.rounds)]
    return {
        "benchmark": "enroll_call",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "contacts": args.contacts,
        "max_answer_s": max(r["answer_s"] for r in rounds),
        "target_answer_s": 2.0,
        "all_ok": all(r["repeat_same_and_nothing_started"] for r in rounds),
        "rounds": rounds,
        "machine": machine(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000, help="contacts per call (default 1,000)")
    parser.add_argument("--rounds", type=int, default=3, help="calls, each with new contacts and a new journey")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for every result of a call")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    setup_logging()
    result = asyncio.run(main(parse_args()))
    print_result(result)
    if not result["all_ok"]:
        raise SystemExit("a repeated call did not give the same results, or started runs")
