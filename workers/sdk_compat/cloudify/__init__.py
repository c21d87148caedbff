"""Compatibility `cloudify` package over Quarterdeck's SDK, for venvs without cloudify-common."""

from quarterdeck import ctx

__all__ = ["ctx"]
