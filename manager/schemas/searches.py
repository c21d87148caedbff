"""The body of `POST /searches/<resource>`: Cloudify's filter rules or DSL constraints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class SearchBody(BaseModel):
    """Rules are checked one by one (manager.services.filter_rules), so that a bad one is
    refused with `invalid_filter_rule` rather than a generic validation error."""

    filter_rules: list[Any] | None = None
    constraints: dict[str, Any] | None = None
