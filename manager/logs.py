"""Logging setup: one format for every process, with the request id when there is one.

`text` (the default) writes one line per record; `json` (QD_LOG_FORMAT=json) one JSON
object per line with the same fields, for log shippers. Chatty libraries are kept at
WARNING unless the level is DEBUG: the HTTP client's line per request, Celery's line per
task received and finished, Alembic's line per migration plugin.
"""

from __future__ import annotations

import contextvars
import logging

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "alembic",
    "celery.worker.strategy",
    "celery.app.trace",
    "celery.worker.consumer.connection",
    "celery.apps.worker",
)


class _ContextFilter(logging.Filter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.component = self.process
        # (uvicorn's copy of the message with terminal colours: noise in a JSON line.)
        record.__dict__.pop("color_message", None)
        return True


def configure_logging(level: str = "INFO", process: str = "quarterdeck", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter(process))
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(component)s %(request_id)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(component)s [%(request_id)s] %(name)s: %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
