"""`cloudify.exceptions` names, mapped to Quarterdeck's SDK exceptions."""

from quarterdeck.exceptions import (
    HttpException,
    NonRecoverableError,
    OperationRetry,
    RecoverableError,
)

__all__ = ["HttpException", "NonRecoverableError", "OperationRetry", "RecoverableError"]
