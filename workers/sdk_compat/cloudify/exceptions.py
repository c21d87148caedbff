"""`cloudify.exceptions` names, mapped to Quarterdeck's SDK exceptions."""

from quarterdeck.exceptions import (
    HttpException,
    NonRecoverableError,
    OperationRetry,
    RecoverableError,
)


class CommandExecutionException(Exception):
    """A command run by a plugin failed; cloudify-common's utilities import this name."""


__all__ = [
    "CommandExecutionException",
    "HttpException",
    "NonRecoverableError",
    "OperationRetry",
    "RecoverableError",
]
