"""Reading a Prometheus endpoint the way Prometheus does, for the metrics tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset], float]

DASHBOARD = Path(__file__).parents[1] / "docs" / "grafana" / "sojourn.json"
# A metric name in PromQL once label matchers, strings, `by (...)` lists and ranges are removed:
# a word with an underscore that is not a function's.
_NAME = re.compile(r"\b[a-z_]+_[a-z_]+\b(?!\s*\()")
_NOT_NAMES = re.compile(r'\{[^}]*\}|"[^"]*"|\b(?:by|without)\s*\([^)]*\)|\[[^\]]*\]')


async def scrape(url: str, **client_options) -> Samples:
    """Every sample at `url`: (sample name, its labels) -> value."""
    async with httpx.AsyncClient(**client_options) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` that carry these labels (and maybe others); 0 when the
    endpoint has none yet (a counter not moved)."""
    wanted = set(labels.items())
    return sum(v for (sample, have), v in samples.items() if sample == name and wanted <= have)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def dashboard_metrics() -> set[str]:
    """Every metric name the Grafana dashboard's queries read."""
    dashboard = json.loads(DASHBOARD.read_text())
    return {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in _NAME.findall(_NOT_NAMES.sub("", target["expr"]))}
