"""docs/grafana/sojourn.json: valid dashboard JSON whose datasource is a variable, with every
query naming only metrics Sojourn exports (the Temporal SDK's, `temporal_*`, are checked against a
live worker's endpoint in tests/scenarios/test_worker_metrics.py)."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

import api.metrics  # noqa: F401 - registers the API's metrics
import sojourn.delivery.metrics  # noqa: F401 - the worker's
import sojourn.services.metrics  # noqa: F401 - ingestion's and engagement's

from metrics_scrape import DASHBOARD, dashboard_metrics


def test_every_query_names_a_metric_we_export():
    # Every sample name each family exposes, whether or not a label set has been counted yet.
    ours = {f"{family.name}_{suffix}" for family in REGISTRY.collect() if family.type == "histogram"
             for suffix in ("bucket", "count", "sum")}
    ours |= {f"{family.name}_total" for family in REGISTRY.collect() if family.type == "counter"}
    used = dashboard_metrics()
    assert {"sojourn_http_request_duration_seconds_bucket", "sojourn_messages_total",
            "sojourn_engagement_events_total", "temporal_workflow_task_schedule_to_start_latency_bucket"} <= used
    assert {name for name in used if not name.startswith("temporal_")} <= ours


def test_the_datasource_is_a_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == f"${{{variable['name']}}}"
        assert all(target["datasource"]["uid"] == f"${{{variable['name']}}}" for target in panel["targets"])
