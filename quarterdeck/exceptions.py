"""Exceptions a plugin raises to tell the manager how an operation failed."""

from __future__ import annotations

from typing import Any


class NonRecoverableError(Exception):
    """The operation failed and retrying it cannot help: it fails at once."""

    def __init__(self, message: str = "", causes: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.causes: list[dict[str, Any]] = list(causes or [])


class HttpException(NonRecoverableError):
    """A resource could not be fetched (kept for Cloudify plugins that catch it)."""

    def __init__(self, url: str, code: int, message: str | None = None) -> None:
        super().__init__(message or f"{url} status {code}")
        self.url = url
        self.code = code


class RecoverableError(Exception):
    """The operation failed but may succeed later: it is retried."""

    def __init__(
        self,
        message: str = "",
        retry_after: float | None = None,
        causes: list[dict[str, Any]] | None = None,
    ) -> None:
        # Cloudify appends the delay to the message; users see it in task_failed events.
        if retry_after is not None and not isinstance(self, OperationRetry):
            message = f"{message} [retry_after={retry_after}]"
        super().__init__(message)
        self.retry_after = retry_after
        self.causes: list[dict[str, Any]] = list(causes or [])


class OperationRetry(RecoverableError):
    """The operation is not done yet: run it again after `retry_after` seconds."""
