"""`cloudify.decorators.operation`, which is Quarterdeck's `@operation`."""

from quarterdeck.dispatch import operation

__all__ = ["operation"]
