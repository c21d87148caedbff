"""`cloudify.plugins`: the workflow helpers custom workflows import."""
