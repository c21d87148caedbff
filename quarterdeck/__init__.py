"""Quarterdeck's plugin SDK (standard library only): ctx, @operation and the exceptions."""

from quarterdeck.context import ctx
from quarterdeck.dispatch import operation
from quarterdeck.exceptions import (
    HttpException,
    NonRecoverableError,
    OperationRetry,
    RecoverableError,
)

__all__ = [
    "HttpException",
    "NonRecoverableError",
    "OperationRetry",
    "RecoverableError",
    "ctx",
    "operation",
]
