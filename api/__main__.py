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
    # An import string, not an app: uvicorn needs one to start worker processes.
    uvicorn.run("api.__main__:serving_app", factory=True, **server_options(settings))


if __name__ == "__main__":
    main()
