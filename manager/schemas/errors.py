"""The body of every error answer (manager.api.errors), as the OpenAPI document describes it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    """Cloudify's error body: a message naming the culprit and a machine-readable code.

    Some errors add keys of their own (an invalid search rule adds `err_filter_rule` and
    `err_reason`), so other keys are allowed.
    """

    model_config = ConfigDict(extra="allow")

    message: str
    error_code: str
    # The traceback of a 500, only when the manager runs with QD_DEBUG; otherwise null.
    server_traceback: str | None = None
