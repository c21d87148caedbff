"""Domain exceptions carrying an HTTP status and a Cloudify `error_code`."""

from __future__ import annotations

import json
from typing import Any


class QuarterdeckError(Exception):
    status_code = 500
    error_code = "internal_server_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body_extras(self) -> dict[str, Any]:
        """Keys the error body carries besides message, error_code and server_traceback."""
        return {}

    def response_headers(self) -> dict[str, str]:
        """Headers the error response carries (e.g. Retry-After)."""
        return {}


class BadParameters(QuarterdeckError):
    status_code = 400
    error_code = "bad_parameters_error"


class IllegalAction(QuarterdeckError):
    status_code = 400
    error_code = "illegal_action_error"


class DependentExists(QuarterdeckError):
    status_code = 400
    error_code = "dependent_exists_error"


class Unauthorized(QuarterdeckError):
    status_code = 401
    error_code = "unauthorized_error"


class Forbidden(QuarterdeckError):
    status_code = 403
    error_code = "forbidden_error"


class NotFound(QuarterdeckError):
    status_code = 404
    error_code = "not_found_error"

    @classmethod
    def of(cls, kind: str, resource_id: object) -> NotFound:
        # The CLI looks for the words "not found" in this message.
        return cls(f"Requested `{kind}` with ID `{resource_id}` was not found")


class MethodNotAllowed(QuarterdeckError):
    status_code = 405
    error_code = "method_not_allowed_error"


class Conflict(QuarterdeckError):
    status_code = 409
    error_code = "conflict_error"


class PayloadTooLarge(QuarterdeckError):
    status_code = 413
    error_code = "bad_parameters_error"


class TooManyRequests(QuarterdeckError):
    """Refused for now; `retry_after` says in how many seconds to try again."""

    status_code = 429
    error_code = "too_many_requests_error"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class CodedError(QuarterdeckError):
    """An error whose Cloudify code is chosen by the raiser (e.g. one a DSL error carries)."""

    def __init__(self, message: str, error_code: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status_code = status_code


class InvalidFilterRule(QuarterdeckError):
    """A search's filter rule that cannot be applied; the 7.0.5 client reads the rule and the
    reason from `err_filter_rule` and `err_reason` (InvalidFilterRule)."""

    status_code = 400
    error_code = "invalid_filter_rule"

    def __init__(self, rule: Any, reason: str) -> None:
        super().__init__(
            f"The filter rule {json.dumps(rule, default=str)} is not in the right format. {reason}"
        )
        self.rule = rule
        self.reason = reason

    def body_extras(self) -> dict[str, Any]:
        return {"err_filter_rule": self.rule, "err_reason": self.reason}
