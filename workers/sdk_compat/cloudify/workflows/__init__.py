"""`cloudify.workflows`: the running workflow's `ctx` and `parameters`."""

from quarterdeck.workflow import ExecutionCancelled, ctx, parameters

__all__ = ["ExecutionCancelled", "ctx", "parameters"]
