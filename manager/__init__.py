"""Quarterdeck's REST service and orchestration brain."""

__version__ = "0.1.0"
