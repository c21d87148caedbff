"""Node templates (§10): properties, relationships, scalability, hosts and plugins."""

import pytest

from manager.dsl import DeploymentPlanError, create_deployment_plan

from .conftest import issues, node, one_issue, parse

PLUGINS = """
    plugins:
      central: {executor: central_deployment_agent, source: central}
      agentside: {executor: host_agent, source: agentside}
"""


def test_unknown_node_type_points_at_value():
    issue = one_issue("node_templates:\n  vm:\n    type: nope\n")
    assert issue.code == "unknown_node_type"
    assert (issue.line, issue.column) == (5, 11)


def test_missing_type():
    assert one_issue("node_templates:\n  vm: {properties: {}}\n").code == "missing_node_type"


def test_unknown_template_key():
    issue = one_issue("node_templates:\n  vm:\n    type: cloudify.nodes.Root\n    description: x\n")
    assert issue.message == "'description' is not in schema (node template 'vm')"


def test_unknown_property():
    issue = one_issue(
        "node_templates:\n  vm:\n    type: cloudify.nodes.Root\n    properties: {nope: 1}\n"
    )
    assert issue.code == "unknown_property"
    assert issue.message == (
        "'vm' node 'nope' property is not part of the derived type properties schema"
    )


def test_missing_required_property():
    issue = one_issue("""
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        properties:
          needed: {type: string}
    node_templates:
      n: {type: a.T}
    """)
    assert issue.code == "missing_property"
    assert issue.message == (
        "'n' node does not provide a value for mandatory 'needed' "
        "property which is part of its type schema"
    )


def test_property_type_mismatch():
    issue = one_issue("""
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        properties:
          port: {type: integer}
    node_templates:
      n:
        type: a.T
        properties: {port: abc}
    """)
    assert issue.code == "invalid_property_value"
    assert "type is 'integer', yet it was assigned with the value 'abc'" in issue.message


def test_integer_property_rejects_boolean():
    issue = one_issue("""
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        properties:
          port: {type: integer}
    node_templates:
      n: {type: a.T, properties: {port: true}}
    """)
    assert issue.code == "invalid_property_value"


def test_non_required_property_without_default_is_omitted():
    plan = parse("node_templates:\n  n: {type: cloudify.nodes.Root}\n")
    assert "resource_id" not in node(plan, "n")["properties"]


def test_relationship_errors_all_reported():
    found = issues("""
    node_templates:
      a:
        type: cloudify.nodes.Root
        relationships:
          - {type: nope, target: b}
          - {type: cloudify.relationships.connected_to, target: ghost}
          - {type: cloudify.relationships.connected_to, target: a}
          - {target: b}
      b: {type: cloudify.nodes.Root}
    """)
    assert [i.code for i in found] == [
        "unknown_relationship_type",
        "unknown_relationship_target",
        "self_relationship",
        "missing_relationship_type",
    ]
    assert found[1].message == (
        "A relationship instance under node 'a' of type "
        "'cloudify.relationships.connected_to' declares an undefined "
        "target node 'ghost'"
    )


def test_more_than_one_contained_in():
    issue = one_issue("""
    node_templates:
      h1: {type: cloudify.nodes.Compute}
      h2: {type: cloudify.nodes.Compute}
      a:
        type: cloudify.nodes.Root
        relationships:
          - {type: cloudify.relationships.contained_in, target: h1}
          - {type: cloudify.relationships.contained_in, target: h2}
    """)
    assert issue.code == "multiple_contained_in"


def test_circular_dependency():
    found = issues("""
    node_templates:
      a:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.connected_to, target: b}]
      b:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.connected_to, target: a}]
    """)
    assert [i.code for i in found] == ["circular_dependency"]
    assert found[0].message.startswith("Circular dependency detected: ")


def test_relationship_not_derived_from_depends_on_fails_at_deployment():
    # cloudify 7.0.5 accepts the blueprint; building the instances raises
    # UnsupportedRelationship
    plan = parse("""
    relationships:
      odd.rel: {}
    node_templates:
      a: {type: cloudify.nodes.Root}
      b:
        type: cloudify.nodes.Root
        relationships: [{type: odd.rel, target: a}]
    """)
    assert node(plan, "b")["relationships"][0]["type"] == "odd.rel"
    with pytest.raises(DeploymentPlanError, match="UnsupportedRelationship"):
        create_deployment_plan(plan, {})


def test_depends_on_lifecycle_operation():
    found = issues("""
    plugins:
      p: {executor: central_deployment_agent, source: p}
    node_templates:
      a:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: p.create
      b:
        type: cloudify.nodes.Root
        relationships:
          - type: cloudify.relationships.depends_on_lifecycle_operation
            target: a
            properties: {operation: configure}
      c:
        type: cloudify.nodes.Root
        relationships:
          - type: cloudify.relationships.depends_on_lifecycle_operation
            target: a
            properties: {operation: create}
    """)
    assert [i.code for i in found] == ["lifecycle_operation_not_declared"]


def test_host_id_follows_containment():
    plan = parse("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      web:
        type: cloudify.nodes.WebServer
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
      app:
        type: cloudify.nodes.ApplicationModule
        relationships: [{type: cloudify.relationships.contained_in, target: web}]
      net: {type: cloudify.nodes.Network}
    """)
    assert node(plan, "vm")["host_id"] == "vm"
    assert node(plan, "app")["host_id"] == "vm"
    assert "host_id" not in node(plan, "net")


def test_plugins_to_install_on_hosts():
    plan = parse(
        PLUGINS
        + """
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      app:
        type: cloudify.nodes.ApplicationModule
        interfaces:
          cloudify.interfaces.lifecycle:
            create: agentside.tasks.create
            configure: central.tasks.configure
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
    """
    )
    vm = node(plan, "vm")
    assert {p["name"] for p in vm["plugins_to_install"]} == {"agent", "agentside"}
    app = node(plan, "app")
    assert {p["name"] for p in app["plugins"]} == {"agentside", "central"}
    assert [p["name"] for p in app["deployment_plugins_to_install"]] == ["central"]
    assert "plugins_to_install" not in app
    assert {p["name"] for p in plan["host_agent_plugins_to_install"]} == {"agent", "agentside"}
    assert {p["name"] for p in plan["deployment_plugins_to_install"]} == {"agent", "central"}


def test_host_agent_plugin_without_host():
    issue = one_issue(
        PLUGINS
        + """
    node_templates:
      app:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: agentside.tasks.create
    """
    )
    assert issue.code == "host_agent_without_host"


def test_scalable_defaults_and_values():
    plan = parse("""
    node_templates:
      a: {type: cloudify.nodes.Root}
      b:
        type: cloudify.nodes.Root
        capabilities:
          scalable:
            properties: {default_instances: 3, min_instances: 1, max_instances: UNBOUNDED}
    """)
    assert node(plan, "a")["capabilities"]["scalable"]["properties"] == {
        "default_instances": 1,
        "min_instances": 0,
        "max_instances": -1,
        "current_instances": 1,
        "planned_instances": 1,
    }
    assert node(plan, "b")["capabilities"]["scalable"]["properties"]["max_instances"] == -1
    assert node(plan, "b")["instances"] == {"deploy": 3}


def test_scalable_bounds_checked():
    issue = one_issue("""
    node_templates:
      a:
        type: cloudify.nodes.Root
        capabilities: {scalable: {properties: {default_instances: 5, max_instances: 3}}}
    """)
    assert issue.message == (
        "Node 'a': default_instances (5) cannot be greater than max_instances (3)"
    )


def test_instances_deploy_and_capabilities_exclusive():
    issue = one_issue("""
    node_templates:
      a:
        type: cloudify.nodes.Root
        instances: {deploy: 2}
        capabilities: {scalable: {properties: {default_instances: 2}}}
    """)
    assert issue.code == "instances_and_capabilities"


def test_deprecated_instances_deploy():
    plan = parse("node_templates:\n  a: {type: cloudify.nodes.Root, instances: {deploy: 4}}\n")
    assert node(plan, "a")["capabilities"]["scalable"]["properties"]["default_instances"] == 4


def test_scalable_with_get_input():
    plan = parse("""
    inputs:
      n: {type: integer, default: 2}
    node_templates:
      a:
        type: cloudify.nodes.Root
        capabilities: {scalable: {properties: {default_instances: {get_input: n}}}}
    """)
    props = node(plan, "a")["capabilities"]["scalable"]["properties"]
    assert props["default_instances"] == {"get_input": "n"}


def test_capabilities_need_1_3():
    found = issues(
        "node_templates:\n  a:\n    type: T\n    capabilities: {}\nnode_types:\n  T: {}\n",
        header="tosca_definitions_version: cloudify_dsl_1_2\n",
    )
    assert "feature_version" in [i.code for i in found]


def test_invalid_connection_type():
    issue = one_issue("""
    node_templates:
      a: {type: cloudify.nodes.Root}
      b:
        type: cloudify.nodes.Root
        relationships:
          - type: cloudify.relationships.connected_to
            target: a
            properties: {connection_type: some_to_some}
    """)
    assert issue.code == "invalid_connection_type"


def test_lifecycle_dependency_without_operation():
    issue = one_issue("""
    node_templates:
      a: {type: cloudify.nodes.Root}
      b:
        type: cloudify.nodes.Root
        relationships:
          - type: cloudify.relationships.depends_on_lifecycle_operation
            target: a
            properties: {operation: ''}
    """)
    assert issue.code == "lifecycle_operation_missing"
