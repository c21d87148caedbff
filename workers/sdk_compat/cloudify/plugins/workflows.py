"""`cloudify.plugins.workflows`: built-in workflows a custom workflow may call as functions."""

from quarterdeck.workflow_lifecycle import execute_operation, install, uninstall

__all__ = ["execute_operation", "install", "uninstall"]
