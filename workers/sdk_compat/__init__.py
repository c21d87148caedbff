"""Directory put on plugin venvs' sys.path: holds only the `cloudify` compatibility package."""
