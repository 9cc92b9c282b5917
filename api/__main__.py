import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from sojourn.logs import configure_logging
from sojourn.settings import Settings, get_settings


def server_options(settings: Settings) -> dict:
    """How `python -m api` serves the app: uvicorn's options from settings."""
    return {
        "host": settings.api_host, "port": settings.api_port, "log_level": "info",
        "log_config": None,  # uvicorn's records go through the one handler `configure_logging` set
        # Longer than clients keep idle connections, so the server never closes one a client is
        # just reusing (uvicorn's 5 s default equals many clients' and loses requests in that race).
        "timeout_keep_alive": settings.api_keep_alive,
        # Several processes share the listening socket; uvicorn restarts one that dies.
        "workers": settings.api_workers,
    }


def serving_app() -> FastAPI:
    """The app of one serving process. uvicorn calls this in each of its worker processes (fresh
    interpreters), so each sets up its own logging before building the app."""
    settings = get_settings()
    configure_logging(settings.log_format)
    return create_app(settings)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format)
    with _shared_metrics(settings.api_workers):
        # An import string, not an app: uvicorn needs one to start worker processes.
        uvicorn.run("api.__main__:serving_app", factory=True, **server_options(settings))


@contextmanager
def _shared_metrics(processes: int) -> Iterator[None]:
    """Several serving processes count into one fresh folder that /metrics sums (api/metrics.py).
    Set before uvicorn starts them: each reads it when it first imports prometheus_client."""
    if processes == 1 or "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="sojourn-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


if __name__ == "__main__":
    main()
