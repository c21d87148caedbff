"""A plugin whose dependency is missing."""
