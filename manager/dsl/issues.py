"""Validation issues, the exceptions the DSL raises, and the collector used while parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Pos:
    """A place in a blueprint file (1-based line and column; 0 when unknown)."""

    file: str = ""
    line: int = 0
    column: int = 0


NOWHERE = Pos()


@dataclass(frozen=True, slots=True)
class DslIssue:
    """One problem found in a blueprint: a stable code, a message naming the culprit, a place."""

    code: str
    message: str
    file: str = ""
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


class DslError(Exception):
    """Base of every exception of manager.dsl; carries a Cloudify `error_code` string."""

    error_code = "invalid_blueprint_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BlueprintInvalid(DslError):
    """The blueprint has one or more issues; all of them are listed."""

    error_code = "invalid_blueprint_error"

    def __init__(self, issues: list[DslIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.issues]


class FunctionEvaluationError(DslError):
    """An intrinsic function could not be evaluated at runtime."""

    error_code = "functions_evaluation_error"


class UnknownSecretError(DslError):
    error_code = "unknown_deployment_secret_error"


class SecretNotPermittedError(DslError):
    """`get_secret` of a secret whose value the caller may not read (a storage raises it;
    the message names the secret, never its value)."""

    error_code = "forbidden_error"


class UnsupportedGetSecretError(DslError):
    error_code = "unsupported_deployment_get_secret_error"


class DeploymentPlanError(DslError):
    """The plan cannot be expanded into node instances (e.g. all_to_one inside a group)."""

    error_code = "deployment_creation_error"


class ModificationError(DslError):
    error_code = "bad_parameters_error"


@dataclass
class Issues:
    """Collects issues during one parse; never global, passed to whoever validates."""

    items: list[DslIssue] = field(default_factory=list)

    def add(self, code: str, message: str, at: Pos | None = None) -> None:
        at = at or NOWHERE
        self.items.append(DslIssue(code, message, at.file, at.line, at.column))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise BlueprintInvalid(sorted_issues(self.items))


def sorted_issues(issues: list[DslIssue]) -> list[DslIssue]:
    """Stable order by place, dropping exact duplicates (one culprit seen by two checks)."""
    seen: set[DslIssue] = set()
    unique = []
    for issue in issues:
        if issue not in seen:
            seen.add(issue)
            unique.append(issue)
    return sorted(unique, key=lambda i: (i.file, i.line, i.column))
