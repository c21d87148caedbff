"""Inputs (§5): definition rules at parse time and prepare_inputs at deployment time."""

import pytest

from manager.dsl import (
    InputConstraintError,
    InputsError,
    InputValidationError,
    MissingRequiredInputError,
    UnknownInputError,
    prepare_inputs,
)

from .conftest import issues, one_issue, parse


def test_hidden_required_without_default():
    issue = one_issue("inputs:\n  secret: {hidden: true}\n")
    assert issue.code == "hidden_input_without_default"


def test_default_checked_against_type_and_constraints():
    found = issues("""
    inputs:
      a: {type: integer, default: abc}
      b:
        default: xyz
        constraints:
          - pattern: '^a'
      c:
        default: 5
        constraints: [{in_range: [1, 3]}]
    """)
    assert [i.code for i in found] == [
        "invalid_property_value",
        "input_constraint_violated",
        "input_constraint_violated",
    ]
    assert found[2].message == (
        "Default value of input 'c' is invalid: Value 5 of input c "
        "violates constraint in_range(1, 3)."
    )


def test_function_default_with_constraints():
    issue = one_issue("""
    inputs:
      a: {default: x}
      b:
        default: {get_input: a}
        constraints: [{min_length: 1}]
    """)
    assert issue.code == "input_function_with_constraints"


def test_unknown_constraint_and_bad_arguments():
    found = issues("""
    inputs:
      a:
        constraints:
          - bigger: 1
          - length: -1
          - {min_length: 1, max_length: 2}
    """)
    assert [i.code for i in found] == [
        "unknown_constraint",
        "invalid_constraint",
        "invalid_constraint",
    ]


def test_object_types_need_1_4_and_operation_name_1_5():
    found = issues(
        "inputs:\n  a: {type: node_id}\n", header="tosca_definitions_version: cloudify_dsl_1_3\n"
    )
    assert [i.code for i in found] == ["feature_version"]
    found = issues("inputs:\n  a: {type: operation_name}\n")
    assert [i.code for i in found] == ["feature_version"]


def test_unknown_input_type():
    assert one_issue("inputs:\n  a: {type: nope}\n").code == "unknown_input_type"


def test_item_type_only_with_list():
    assert one_issue("inputs:\n  a: {type: dict, item_type: string}\n").code == (
        "invalid_item_type"
    )


PLAN = parse(
    """
data_types:
  my.Endpoint:
    properties:
      ip: {type: string, required: false}
      port: {type: integer, default: 2233}
inputs:
  count: {type: integer}
  ratio: {type: float, default: 0.5}
  flag: {type: boolean, default: false}
  name:
    type: string
    default: web
    constraints: [{pattern: '^w'}]
  tags: {type: list, default: []}
  ports:
    type: list
    item_type: integer
    default: [1]
    constraints: [{less_than: 100}]
  endpoint: {type: my.Endpoint, required: false}
  optional: {required: false}
  level:
    required: false
    constraints:
      - valid_values: [low, high]
        error_message: level must be low or high
  derived: {default: {concat: [{get_input: name}, '-', {get_input: count}]}}
""",
    header="tosca_definitions_version: cloudify_dsl_1_5\n",
)


def test_prepare_defaults_and_coercion():
    values = prepare_inputs(
        PLAN,
        {
            "count": "5",
            "flag": "true",
            "ratio": "1.5",
            "tags": '["a"]',
            "endpoint": {"ip": "1.2.3.4"},
        },
    )
    assert values["count"] == 5
    assert values["flag"] is True
    assert values["ratio"] == 1.5
    assert values["tags"] == ["a"]
    assert values["endpoint"] == {"ip": "1.2.3.4", "port": 2233}
    assert values["optional"] is None
    # an undeclared data-type input gets a value built from the type's defaults
    assert prepare_inputs(PLAN, {"count": 1})["endpoint"] == {"port": 2233}
    assert values["derived"] == "web-5"
    assert PLAN["inputs"]["derived"]["default"]["concat"][0] == {"get_input": "name"}


def test_unknown_inputs_named():
    with pytest.raises(UnknownInputError) as info:
        prepare_inputs(PLAN, {"count": 1, "foo": 1, "bar": 2})
    assert info.value.error_code == "unknown_deployment_input_error"
    assert str(info.value) == "Unknown input(s) specified: 'foo', 'bar'"


def test_missing_required_named():
    with pytest.raises(MissingRequiredInputError) as info:
        prepare_inputs(PLAN, {})
    assert info.value.error_code == "missing_required_deployment_input_error"
    assert str(info.value).startswith("Required inputs 'count' were not specified")


def test_wrong_type():
    with pytest.raises(InputValidationError) as info:
        prepare_inputs(PLAN, {"count": "many", "flag": 3})
    assert info.value.error_code == "bad_parameters_error"
    assert "input 'count'" in str(info.value) and "input 'flag'" in str(info.value)


def test_integer_rejects_boolean():
    with pytest.raises(InputValidationError):
        prepare_inputs(PLAN, {"count": True})


def test_constraint_violation_generic_message_after_default():
    with pytest.raises(InputConstraintError) as info:
        prepare_inputs(PLAN, {"count": 1, "name": "xx"})
    assert str(info.value) == "Value xx of input name violates constraint pattern(^w)."


def test_constraint_error_message_kept_without_default():
    with pytest.raises(InputConstraintError) as info:
        prepare_inputs(PLAN, {"count": 1, "level": "mid"})
    assert str(info.value) == "level must be low or high"


def test_list_item_type_constraints_apply_per_item():
    assert prepare_inputs(PLAN, {"count": 1, "ports": ["5", 6]})["ports"] == [5, 6]
    with pytest.raises(InputConstraintError):
        prepare_inputs(PLAN, {"count": 1, "ports": [5, 500]})


def test_data_type_input_rejects_unknown_fields():
    with pytest.raises(InputValidationError, match="Undefined property 'nope'"):
        prepare_inputs(PLAN, {"count": 1, "endpoint": {"ip": "x", "nope": 1}})


def test_all_inputs_errors_share_base_class():
    for cls in (
        UnknownInputError,
        MissingRequiredInputError,
        InputValidationError,
        InputConstraintError,
    ):
        assert issubclass(cls, InputsError)


def test_plan_inputs_keep_definitions():
    assert PLAN["inputs"]["level"]["constraints"] == [
        {"valid_values": ["low", "high"], "error_message": "level must be low or high"}
    ]
    assert PLAN["inputs"]["count"] == {"type": "integer"}


SERVICE_TYPES = """
    data_types:
      acme.E:
        properties:
          ip: {type: string, default: 10.0.0.1}
          port: {type: integer, default: 2233}
      acme.S:
        properties:
          e: {type: acme.E}
          name: {type: string, default: svc}
"""


def test_omitted_data_typed_input_takes_the_complete_defaults():
    plan = parse(SERVICE_TYPES + "    inputs:\n      s: {type: acme.S}\n")
    assert prepare_inputs(plan, {}) == {"s": {"e": {"ip": "10.0.0.1", "port": 2233}, "name": "svc"}}


def test_omitted_data_typed_input_with_incomplete_defaults_is_missing():
    plan = parse(
        SERVICE_TYPES.replace("ip: {type: string, default: 10.0.0.1}", "ip: {type: string}")
        + "    inputs:\n      s: {type: acme.S}\n"
    )
    with pytest.raises(MissingRequiredInputError, match="'s'"):
        prepare_inputs(plan, {})
