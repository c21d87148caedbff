"""Celery tasks: thin wrappers that take ids and let the API hold the state."""
