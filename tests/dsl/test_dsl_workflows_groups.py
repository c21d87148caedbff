"""Workflows (§13), groups, policies and scaling groups (§15), labels and outputs."""

import pytest

from manager.dsl import BlueprintInvalid, create_deployment_plan, parse_blueprint

from .conftest import issues, one_issue, parse, write_tree

PLUGIN = """
    plugins:
      p: {executor: central_deployment_agent, source: p}
"""


def test_builtin_workflows_declared():
    plan = parse("")
    assert set(plan["workflows"]) == {
        "install",
        "uninstall",
        "reinstall",
        "start",
        "stop",
        "restart",
        "execute_operation",
        "check_status",
        "check_drift",
        "heal",
        "scale",
        "install_new_agents",
        "validate_agents",
        "rollback",
        "pull",
    }
    heal = plan["workflows"]["heal"]
    assert (heal["plugin"], heal["operation"]) == (
        "default_workflows",
        "cloudify.plugins.workflows.auto_heal_reinstall_node_subgraph",
    )
    assert plan["workflows"]["install_new_agents"]["availability_rules"] == {
        "node_instances_active": ["all", "partial"],
        "node_types_required": ["cloudify.nodes.Compute"],
    }
    assert [p["name"] for p in plan["workflow_plugins_to_install"]] == ["default_workflows"]


def test_custom_workflow_with_parameters():
    plan = parse(
        PLUGIN
        + """
    workflows:
      short: p.wf.run
      long:
        mapping: p.wf.other
        is_cascading: true
        parameters:
          x: {type: integer, default: 1}
          y: {description: needed}
        availability_rules:
          available: false
    """
    )
    wf = plan["workflows"]["long"]
    assert wf == {
        "plugin": "p",
        "operation": "wf.other",
        "parameters": {"x": {"type": "integer", "default": 1}, "y": {"description": "needed"}},
        "is_cascading": True,
        "availability_rules": {"available": False},
    }
    assert plan["workflows"]["short"]["operation"] == "wf.run"


def test_script_workflow(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": """tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
workflows:
  mine:
    mapping: scripts/wf.py
    parameters: {a: {default: 1}}
""",
            "scripts/wf.py": "",
        },
    )
    wf = parse_blueprint(tmp_path, "blueprint.yaml")["workflows"]["mine"]
    assert (wf["plugin"], wf["operation"]) == ("script", "script_runner.tasks.execute_workflow")
    assert wf["parameters"]["script_path"]["default"] == "scripts/wf.py"


def test_workflow_errors():
    found = issues("""
    workflows:
      a: {parameters: {}}
      b: nope.x.y
      c: {mapping: scripts/missing.py}
    """)
    assert [i.code for i in found] == [
        "missing_workflow_mapping",
        "operation_mapping_unresolved",
        "operation_mapping_unresolved",
    ]


def test_availability_rules_need_1_4():
    found = issues(
        PLUGIN
        + """
    workflows:
      w: {mapping: p.w, availability_rules: {available: true}}
    """,
        header="tosca_definitions_version: cloudify_dsl_1_3\n",
    )
    assert [i.code for i in found] == ["feature_version"]


def test_invalid_availability_rules():
    issue = one_issue(
        PLUGIN
        + """
    workflows:
      w: {mapping: p.w, availability_rules: {node_instances_active: [some]}}
    """
    )
    assert issue.code == "invalid_availability_rules"


GROUPS = """
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      app:
        type: cloudify.nodes.ApplicationModule
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
      db: {type: cloudify.nodes.Database}
"""


def test_scaling_group_from_policy():
    plan = parse(
        GROUPS
        + """
    groups:
      vm_group: {members: [vm, app]}
    policies:
      scale_vm:
        type: cloudify.policies.scaling
        properties: {default_instances: 2}
        targets: [vm_group]
    """
    )
    assert plan["scaling_groups"] == {
        "vm_group": {
            "members": ["vm"],
            "properties": {
                "default_instances": 2,
                "min_instances": 0,
                "max_instances": -1,
                "current_instances": 2,
                "planned_instances": 2,
            },
        }
    }
    assert plan["groups"]["vm_group"]["members"] == ["vm", "app"]
    assert plan["policies"]["scale_vm"]["targets"] == ["vm_group"]


def test_scaling_policy_properties_carry_the_instance_counts():
    plan = parse(
        GROUPS
        + """
    inputs:
      n: {default: 3}
    groups:
      vm_group: {members: [vm]}
    policies:
      scale_vm:
        type: cloudify.policies.scaling
        properties: {default_instances: {get_input: n}}
        targets: [vm_group]
    """
    )
    counts = {"get_input": "n"}
    assert plan["policies"]["scale_vm"]["properties"] == {
        "default_instances": counts,
        "min_instances": 0,
        "max_instances": -1,
        "current_instances": counts,
        "planned_instances": counts,
    }
    dep = create_deployment_plan(plan, {})
    evaluated = dep["policies"]["scale_vm"]["properties"]
    assert (evaluated["current_instances"], evaluated["planned_instances"]) == (3, 3)
    assert dep["scaling_groups"]["vm_group"]["properties"] == evaluated


def test_group_errors():
    found = issues(
        GROUPS
        + """
    groups:
      vm: {members: [db]}
      empty: {members: []}
      ghost: {members: [nope, db, db]}
    """
    )
    assert [i.code for i in found] == [
        "group_name_conflict",
        "invalid_group_members",
        "unknown_group_member",
        "duplicate_group_member",
    ]


def test_group_cycle():
    found = issues(
        GROUPS
        + """
    groups:
      a: {members: [b]}
      b: {members: [a]}
    """
    )
    assert {i.code for i in found} == {"group_cycle"}


def test_policy_errors():
    found = issues(
        GROUPS
        + """
    groups:
      g: {members: [db]}
    policies:
      p1: {type: cloudify.policies.other, targets: [g]}
      p2: {type: cloudify.policies.scaling, targets: []}
      p3: {type: cloudify.policies.scaling, targets: [nope]}
      p4:
        type: cloudify.policies.scaling
        properties: {default_instances: 3, max_instances: 2}
        targets: [g]
    """
    )
    assert [i.code for i in found] == [
        "unknown_policy_type",
        "invalid_policy_targets",
        "unknown_policy_target",
        "invalid_scalable",
    ]


def test_member_of_two_scaling_groups():
    issue = one_issue(
        GROUPS
        + """
    groups:
      a: {members: [db]}
      b: {members: [db]}
    policies:
      pa: {type: cloudify.policies.scaling, targets: [a]}
      pb: {type: cloudify.policies.scaling, targets: [b]}
    """
    )
    assert issue.code == "member_in_multiple_scaling_groups"


def test_scaling_group_members_must_share_container():
    issue = one_issue(
        GROUPS
        + """
    groups:
      g: {members: [app, db]}
    policies:
      p: {type: cloudify.policies.scaling, targets: [g]}
    """
    )
    assert issue.code == "scaling_group_containment"


def test_legacy_group_policies_and_triggers():
    plan = parse(
        GROUPS
        + """
    groups:
      g:
        members: [vm]
        policies:
          hf:
            type: cloudify.policies.types.host_failure
            triggers:
              t:
                type: cloudify.policies.triggers.execute_workflow
                parameters: {workflow: heal}
    """
    )
    policy = plan["groups"]["g"]["policies"]["hf"]
    assert policy["properties"]["policy_operation"] == "host_failure"
    assert policy["triggers"]["t"]["parameters"]["workflow"] == "heal"


def test_outputs_capabilities_labels():
    plan = parse(
        GROUPS
        + """
    outputs:
      ip: {description: the ip, value: {get_attribute: [vm, ip]}}
    capabilities:
      endpoint: {value: {get_property: [db, use_external_resource]}}
    labels:
      Env: {values: [dev, {get_input: x}]}
    blueprint_labels:
      team: {values: [ops]}
    inputs:
      x: {default: prod}
    resource_tags: {owner: me}
    metadata: {a: 1}
    description: hello
    """
    )
    assert plan["outputs"]["ip"] == {
        "value": {"get_attribute": ["vm", "ip"]},
        "description": "the ip",
    }
    # keys as written: cloudify 7.0.5's plan does not lower-case them
    assert plan["labels"] == {"Env": {"values": ["dev", {"get_input": "x"}]}}
    assert plan["blueprint_labels"] == {"team": {"values": ["ops"]}}
    assert (plan["resource_tags"], plan["metadata"], plan["description"]) == (
        {"owner": "me"},
        {"a": 1},
        "hello",
    )


def test_output_without_value_and_bad_labels():
    found = issues("""
    outputs:
      o: {description: x}
    blueprint_labels:
      k: {values: [{get_input: x}]}
    labels:
      l: [a]
    """)
    assert [i.code for i in found] == ["missing_value", "invalid_label", "invalid_label"]


def test_plugin_definition_rules():
    found = issues("""
    plugins:
      a: {executor: somewhere, source: a}
      b: {executor: central_deployment_agent}
      c: {source: c}
      d: {executor: host_agent, install: false, colour: red}
    """)
    assert [i.code for i in found] == [
        "invalid_plugin_executor",
        "plugin_missing_source",
        "missing_plugin_executor",
        "unknown_key",
    ]


def test_plugin_plan_entry():
    plan = parse("""
    plugins:
      p:
        executor: central_deployment_agent
        package_name: my-plugin
        package_version: '1.0'
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: p.tasks.create
    """)
    assert plan["deployment_plugins_to_install"] == [
        {
            "name": "p",
            "executor": "central_deployment_agent",
            "install": True,
            "source": None,
            "install_arguments": None,
            "package_name": "my-plugin",
            "package_version": "1.0",
            "supported_platform": None,
            "distribution": None,
            "distribution_version": None,
            "distribution_release": None,
            "properties_description": None,
            "properties": {},
        }
    ]


def test_all_issues_reported_at_once():
    with pytest.raises(BlueprintInvalid) as info:
        parse("""
        node_templates:
          a: {type: nope}
          b:
            type: cloudify.nodes.Root
            properties: {bad: 1}
        outputs:
          o: {value: {get_input: missing}}
        """)
    assert info.value.codes == ["unknown_node_type", "unknown_property", "unknown_input"]
    assert str(info.value).count("\n") == 2


def test_prepare_workflow_parameters():
    from manager.dsl import ExecutionParametersError, prepare_workflow_parameters

    plan = parse(
        PLUGIN
        + """
    workflows:
      w:
        mapping: p.w
        parameters:
          needed: {type: integer}
          optional: {required: false}
          level: {default: low, constraints: [{valid_values: [low, high]}]}
          nullable: {default: null}
    """
    )
    wf = plan["workflows"]["w"]
    assert prepare_workflow_parameters("w", wf, {"needed": "3"}) == {
        "needed": 3,
        "level": "low",
        "nullable": None,
    }
    with pytest.raises(ExecutionParametersError) as info:
        prepare_workflow_parameters("w", wf, {})
    assert info.value.error_code == "illegal_execution_parameters_error"
    assert str(info.value) == (
        'Workflow "w" must be provided with the following parameters to execute: needed'
    )
    with pytest.raises(ExecutionParametersError, match="does not have the following"):
        prepare_workflow_parameters("w", wf, {"needed": 1, "extra": 2})
    assert (
        prepare_workflow_parameters(
            "w", wf, {"needed": 1, "extra": 2}, allow_custom_parameters=True
        )["extra"]
        == 2
    )
    with pytest.raises(ExecutionParametersError, match="violates constraint"):
        prepare_workflow_parameters("w", wf, {"needed": 1, "level": "mid"})


def test_node_property_constraints():
    found = issues("""
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        properties:
          port:
            type: integer
            constraints: [{in_range: [1, 1024]}]
          name:
            constraints: [{bogus: 1}]
    node_templates:
      n:
        type: a.T
        properties: {port: 8080, name: x}
    """)
    assert [i.code for i in found] == ["unknown_constraint", "property_constraint_violated"]
    assert found[1].message == (
        "Property 'port' of node 'n' is invalid: Value 8080 of property "
        "port violates constraint in_range(1, 1024)."
    )


def test_group_in_two_scaling_policies_and_unknown_trigger():
    found = issues(
        GROUPS
        + """
    groups:
      g:
        members: [db]
        policies:
          hf:
            type: cloudify.policies.types.host_failure
            triggers:
              t: {type: nope}
    policies:
      a: {type: cloudify.policies.scaling, targets: [g]}
      b: {type: cloudify.policies.scaling, targets: [g]}
    """
    )
    assert [i.code for i in found] == ["unknown_policy_trigger", "group_in_multiple_policies"]
