"""The one shape every workflow has, built-in or custom: what it prepares before its graph
is built, how it builds the graph, and what it does when the execution succeeds or fails.

`manager.services.executions` starts every execution through `Workflow.prepare` and
`Workflow.build`; `manager.orchestration.completion` ends every execution through
`Workflow.on_success` and `Workflow.on_failure`. No code outside a workflow's own class
looks at which workflow an execution runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from manager.db import Deployment, Execution
from manager.workflows.lifecycle import Builder

# Adds steps for a failure's clean-up to a fresh graph and starts them; answers whether
# something now runs (then the execution ends only once that is done).
RunMore = Callable[[Callable[[Builder], None]], bool]


class Workflow:
    """A workflow kind. Subclasses override `build`, and the hooks they need."""

    def prepare(
        self, session: Session, deployment: Deployment, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        """Change the deployment before the graph is built; returns parameters to keep with
        the execution (the graph builder and the end hooks see them). May raise CodedError."""
        return {}

    def build(self, builder: Builder, parameters: dict[str, Any]) -> None:
        raise NotImplementedError

    def on_success(self, session: Session, execution: Execution, deployment: Deployment) -> None:
        """The execution ended terminated (every failure it had was ignored)."""

    def on_failure(
        self, session: Session, execution: Execution, deployment: Deployment, run_more: RunMore
    ) -> bool:
        """The execution is about to end failed. True: clean-up was started with `run_more`
        and the execution ends when it does (this hook is then called again)."""
        return False

    def on_cancelled(self, session: Session, execution: Execution, deployment: Deployment) -> None:
        """The execution ended cancelled."""
