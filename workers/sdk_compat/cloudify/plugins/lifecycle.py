"""`cloudify.plugins.lifecycle`: install and uninstall node instances in a task graph."""

from quarterdeck.workflow_lifecycle import install_node_instances, uninstall_node_instances

__all__ = ["install_node_instances", "uninstall_node_instances"]
