"""Alembic migrations of Quarterdeck's database (date-prefixed revisions)."""
