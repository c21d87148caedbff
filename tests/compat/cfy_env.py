"""The unmodified Cloudify CLI 7.0.5 (`cfy`) in a cached virtualenv of its own."""

from __future__ import annotations

from pathlib import Path

from .reference_env import cached_venv_python

# cloudify 7.0.5 imports `pkg_resources`, which setuptools stopped shipping in 81.
CLI_REQUIREMENTS = ("cloudify==7.0.5", "setuptools<81")


def cfy_venv_bin() -> Path:
    """The bin/ directory holding `cfy` and the python with cloudify_rest_client.

    Raises ReferenceUnavailable with the reason when the CLI cannot be installed.
    """
    python = cached_venv_python(
        CLI_REQUIREMENTS,
        "cloudify-cli",
        "import cloudify_cli.main, cloudify_rest_client; print('ok')",
    )
    return python.parent
