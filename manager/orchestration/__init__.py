"""The single place where execution and operation statuses change."""
