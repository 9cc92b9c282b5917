"""The console's journey page for a journey with 1,000,000 runs, against the funnel API it draws.

The data is `bench/funnel.py`'s (the same generator: one journey, 1,000,000 runs over 30 days,
about 5,000,000 steps, 1.4 M messages, 3.2 M engagement rows, conversions), so the page is
measured over the funnel bench's data. The API runs as deployed (`python -m api`, its own
process); this script signs in to the console with the API key through the sign-in form, as a
person does, then in each round, in turn:

- `journey_page_s` (the headline): `GET /console/journeys/{id}`, the whole HTML page (the funnel
  for every version, the diagram's graph, the nodes table), as the browser receives it;
- `journeys_page_s`: `GET /console/journeys`, the list with entered / active / converted over the
  last 30 days;
- `funnel_api_s`: `GET /v1/journeys/{id}/funnel`, the numbers the page shows, as JSON: the
  baseline, so the page's own cost is the difference.

Each figure is the median of `--calls` calls after one warm-up call. Target: journey_page_s < 0.5.

    .venv/bin/python bench/console.py [--runs 1000000] [--calls 7]

Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import time

import asyncpg
import httpx
from funnel import JOURNEY, generate
from ingest import API_KEY, ApiProcess

from common import bench_stack, machine, print_result, setup_logging

log = logging.getLogger("bench.console")

PATHS = {"journey_page": f"/console/journeys/{JOURNEY}", "journeys_page": "/console/journeys",
         "funnel_api": f"/v1/journeys/{JOURNEY}/funnel"}


async def sign_in(http: httpx.AsyncClient) -> None:
    """The console's session cookie, through its form (the CSRF token comes with the form)."""
    form = (await http.get("/console/sign-in")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "no CSRF token on the sign-in page"
    response = await http.post("/console/sign-in", data={"csrf_token": token.group(1), "api_key": API_KEY,
                                                          "next": "/console/journeys"})
    assert response.status_code == 303, response.text


async def timed(http: httpx.AsyncClient, path: str) -> tuple[float, str]:
    began = time.perf_counter()
    response = await http.get(path)
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed, response.text


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory")
    args = parser.parse_args()
    setup_logging()
    async with bench_stack(keep=args.keep) as stack:
        pg = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg", "postgresql"))
        generated = await generate(pg, args.runs)
        runs = await pg.fetchval("SELECT count(*) FROM journey_runs WHERE journey_id = $1", JOURNEY)
        await pg.close()
        async with ApiProcess(stack) as api, httpx.AsyncClient(base_url=api.url, timeout=120) as http:
            await sign_in(http)
            http.headers["Authorization"] = f"Bearer {API_KEY}"  # the funnel API's; the pages use the cookie
            for path in PATHS.values():
                await timed(http, path)
            figures: dict[str, list[float]] = {name: [] for name in PATHS}
            for call in range(args.calls):
                for name, path in PATHS.items():
                    seconds, body = await timed(http, path)
                    figures[name].append(seconds)
                    if name == "journey_page":
                        page = body
                log.info("call %d: %s", call + 1, ", ".join(f"{name} {values[-1]:.3f} s" for name, values in figures.items()))
    assert f'data-total="entered">{runs}<' in page, f"the page does not show the {runs} runs as entered"
    medians = {f"{name}_s": round(statistics.median(values), 4) for name, values in figures.items()}
    print_result({**medians, "target_met": medians["journey_page_s"] < 0.5,
                  "calls": {name: [round(s, 4) for s in values] for name, values in figures.items()},
                  "runs": runs, "generated": generated, "machine": machine()})


if __name__ == "__main__":
    asyncio.run(main())
