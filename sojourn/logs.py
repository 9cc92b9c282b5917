"""How every Sojourn process logs (the API, the worker, the command line): one record a line on
stderr, as text or, with `LOG_FORMAT=json`, as one JSON object a line that a log pipeline can
index by journey, contact, message, workflow and run."""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from pythonjsonlogger.json import JsonFormatter
from temporalio import activity, workflow
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What a line about a message, a run or an activity says about it; the `extra=` of a log call
# names them, and `_TemporalContext` fills in what Temporal knows.
CONTEXT_FIELDS = ("journey_id", "contact_id", "message_id", "workflow_id", "run_id", "activity", "attempt")

# Record attributes that say nothing a reader needs, or say it nested (flattened instead).
_LEFT_OUT = ("color_message", "taskName", "temporal_activity", "temporal_workflow", "activity_info",
             "workflow_info", "temporal_log", "__temporal_error_identifier")

# Loggers that would write a line per request or per migration step.
_QUIET = ("alembic.runtime.plugins", "httpx")


class _TemporalContext(logging.Filter):
    """Flattens the ids Temporal's activity and workflow loggers add as one nested dict
    (`temporal_activity`, `temporal_workflow`) into top-level fields, and gives the lines any
    other logger writes inside an activity (the send path's) the same ids. Ids the call gave
    in `extra=` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        details = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        if details is None and activity.in_activity():
            info = activity.info()
            details = {"workflow_id": info.workflow_id, "workflow_run_id": info.workflow_run_id,
                       "activity_type": info.activity_type, "attempt": info.attempt}
        if details:
            found = {"workflow_id": details.get("workflow_id"),
                     "run_id": details.get("workflow_run_id") or details.get("run_id"),
                     "activity": details.get("activity_type"), "attempt": details.get("attempt")}
            for name, value in found.items():
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
        return True


def _json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601 in UTC
        reserved_attrs=[*logging.makeLogRecord({}).__dict__, "message", "asctime", *_LEFT_OUT],
    )


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every record (ours, uvicorn's, Temporal's, its Rust core's) to stderr as `log_format`
    says (the `LOG_FORMAT` setting: text or json)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(_json_formatter())
        handler.addFilter(_TemporalContext())
        # The ids are fields of their own: not appended to the message as well.
        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Warnings and a crash's traceback would otherwise be bare text lines among the records.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    _forward_temporal_core_logs()


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    logging.getLogger("sojourn").critical("the process stopped on an uncaught %s", kind.__name__,
                                          exc_info=(kind, error, traceback))


def _forward_temporal_core_logs() -> None:
    """Temporal's Rust core writes its warnings straight to stderr in a format of its own;
    forwarded, they go through the handler above like any other record. Only a process whose
    Temporal runtime does not exist yet can change it (the entry points call this first)."""
    forwarded = LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                              forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")))
    try:
        Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=forwarded)))
    except RuntimeError:
        pass
