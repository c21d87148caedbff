"""The Cloudify DSL (cloudify_dsl_1_3 to 1_5): parser, validator and deployment planner."""

from .functions import Evaluator, Scope, evaluate_functions, evaluate_outputs
from .inputs import (
    InputConstraintError,
    InputsError,
    InputValidationError,
    MissingRequiredInputError,
    UnknownInputError,
    prepare_inputs,
)
from .instances import create_deployment_plan
from .issues import (
    BlueprintInvalid,
    DeploymentPlanError,
    DslError,
    DslIssue,
    FunctionEvaluationError,
    ModificationError,
    SecretNotPermittedError,
    UnknownSecretError,
    UnsupportedGetSecretError,
)
from .modification import modify_deployment
from .parameters import ExecutionParametersError, prepare_workflow_parameters
from .plan import parse_blueprint, parse_text
from .resolver import ImportResolver, NullResolver, ResolvedImport
from .storage import FunctionStorage, MemoryStorage

__all__ = [
    "BlueprintInvalid",
    "DeploymentPlanError",
    "DslError",
    "DslIssue",
    "Evaluator",
    "ExecutionParametersError",
    "FunctionEvaluationError",
    "FunctionStorage",
    "ImportResolver",
    "InputConstraintError",
    "InputValidationError",
    "InputsError",
    "MemoryStorage",
    "MissingRequiredInputError",
    "ModificationError",
    "NullResolver",
    "ResolvedImport",
    "Scope",
    "SecretNotPermittedError",
    "UnknownInputError",
    "UnknownSecretError",
    "UnsupportedGetSecretError",
    "create_deployment_plan",
    "evaluate_functions",
    "evaluate_outputs",
    "modify_deployment",
    "parse_blueprint",
    "parse_text",
    "prepare_inputs",
    "prepare_workflow_parameters",
]
