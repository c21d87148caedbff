"""Intrinsic functions (§17): parse-time checks, deployment-time and runtime evaluation."""

import pytest

from manager.dsl import (
    FunctionEvaluationError,
    MemoryStorage,
    UnknownSecretError,
    UnsupportedGetSecretError,
    evaluate_functions,
    evaluate_outputs,
)
from manager.dsl.functions import Evaluator, Scope
from manager.dsl.instances import create_deployment_plan
from manager.dsl.topology import sequential_ids

from .conftest import issues, node, one_issue, parse

PLUGIN = """
    plugins:
      p: {executor: central_deployment_agent, source: p}
"""


def test_unknown_input_reference():
    issue = one_issue(
        "node_templates:\n  n:\n    type: cloudify.nodes.Root\n"
        "    properties: {resource_id: {get_input: nope}}\n"
    )
    assert issue.code == "unknown_input"
    assert "unknown input 'nope'" in issue.message


def test_unknown_node_and_property_references():
    found = issues("""
    node_templates:
      a:
        type: cloudify.nodes.Root
        properties:
          resource_id: {get_property: [ghost, x]}
      b:
        type: cloudify.nodes.Root
        properties:
          resource_id: {get_property: [a, nope]}
    outputs:
      o: {value: {get_attribute: [ghost, ip]}}
    """)
    assert [i.code for i in found] == ["unknown_node", "unknown_node_property", "unknown_node"]
    assert found[1].message.startswith(
        "Node template property 'nope' referenced from 'a' doesn't exist"
    )


def test_scope_rules():
    found = issues(
        PLUGIN
        + """
    node_templates:
      a:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: {implementation: p.c, inputs: {x: {get_attribute: [TARGET, ip]}}}
      b:
        type: cloudify.nodes.Root
        relationships:
          - type: cloudify.relationships.connected_to
            target: a
            source_interfaces:
              cloudify.interfaces.relationship_lifecycle:
                establish: {implementation: p.c, inputs: {x: {get_attribute: [SELF, ip]}}}
    outputs:
      o: {value: {get_attribute: [SELF, ip]}}
    """
    )
    assert [i.code for i in found] == ["invalid_function_scope"] * 3


def test_get_attribute_not_allowed_in_labels():
    issue = one_issue("""
    node_templates:
      a: {type: cloudify.nodes.Root}
    labels:
      env: {values: [{get_attribute: [a, x]}]}
    """)
    assert issue.code == "invalid_function_scope"


def test_malformed_function_arguments():
    found = issues("""
    outputs:
      a: {value: {concat: notalist}}
      b: {value: {merge: [1, 2]}}
      c: {value: {get_sys: [tenant]}}
    """)
    assert [i.code for i in found] == ["invalid_function"] * 4


def test_static_evaluation_at_deployment_creation():
    plan = parse(
        PLUGIN
        + """
    inputs:
      cfg: {default: {hosts: [h1, h2]}}
      suffix: {default: x}
    node_templates:
      db:
        type: cloudify.nodes.Root
        properties: {resource_id: db-1}
      web:
        type: cloudify.nodes.WebServer
        properties:
          port: 9090
          resource_id: {concat: ['web-', {get_property: [SELF, port]}, '-',
                                 {get_property: [db, resource_id]}]}
        interfaces:
          cloudify.interfaces.lifecycle:
            configure:
              implementation: p.c
              inputs:
                host: {get_input: [cfg, hosts, 1]}
                merged: {merge: [{a: 1}, {b: 2}]}
                up: {string_upper: {get_input: suffix}}
                ip: {get_attribute: [SELF, ip]}
                mixed: {concat: [x, {get_attribute: [SELF, ip]}, {get_input: suffix}]}
    outputs:
      o: {value: {get_property: [web, resource_id]}}
    """
    )
    dep = create_deployment_plan(plan, {}, id_factory=sequential_ids())
    web = next(n for n in dep["nodes"] if n["id"] == "web")
    assert web["properties"]["resource_id"] == "web-9090-db-1"
    op = web["operations"]["configure"]
    assert op["inputs"]["host"] == "h2"
    assert op["inputs"]["merged"] == {"a": 1, "b": 2}
    assert op["inputs"]["up"] == "X"
    assert op["inputs"]["ip"] == {"get_attribute": ["SELF", "ip"]}
    assert op["inputs"]["mixed"] == {"concat": ["x", {"get_attribute": ["SELF", "ip"]}, "x"]}
    assert op["has_intrinsic_functions"] is True
    assert web["operations"]["cloudify.interfaces.lifecycle.configure"] is op
    assert dep["outputs"]["o"]["value"] == "web-9090-db-1"
    # the plan itself is untouched
    assert node(plan, "web")["properties"]["resource_id"]["concat"][0] == "web-"


def test_string_functions():
    ev = Evaluator(inputs={})
    scope = Scope()
    assert ev.evaluate({"string_find": ["hello", "l"]}, scope) == 2
    assert ev.evaluate({"string_replace": ["a-b-c", "-", "+", 1]}, scope) == "a+b-c"
    assert ev.evaluate({"string_split": ["a,b,c", ","]}, scope) == ["a", "b", "c"]
    assert ev.evaluate({"string_split": ["a,b,c", ",", 2]}, scope) == "c"
    assert ev.evaluate({"string_lower": "ABC"}, scope) == "abc"
    assert ev.evaluate({"concat": ["a", 1, True]}, scope) == "a1True"


def test_merge_rejects_non_dict():
    with pytest.raises(FunctionEvaluationError):
        Evaluator(inputs={}).evaluate({"merge": [{"a": 1}, 3]}, Scope())


def test_circular_get_property():
    nodes = {
        "a": {
            "properties": {
                "x": {"get_property": ["SELF", "y"]},
                "y": {"get_property": ["SELF", "x"]},
            }
        }
    }
    with pytest.raises(FunctionEvaluationError, match="Max recursion"):
        Evaluator(inputs={}, nodes=nodes).evaluate({"get_property": ["a", "x"]}, Scope())


def _storage(**kwargs):
    nodes = [
        {"id": "vm", "properties": {"ip": "from-props", "size": 2}},
        {"id": "db", "properties": {}},
        {"id": "app", "properties": {}},
    ]
    instances = [
        {
            "id": "vm_1",
            "node_id": "vm",
            "index": 1,
            "runtime_properties": {"ip": "10.0.0.1"},
            "relationships": [],
            "scaling_groups": [{"name": "g", "id": "g_1"}],
        },
        {
            "id": "vm_2",
            "node_id": "vm",
            "index": 2,
            "runtime_properties": {"ip": "10.0.0.2"},
            "relationships": [],
            "scaling_groups": [{"name": "g", "id": "g_2"}],
        },
        {
            "id": "db_1",
            "node_id": "db",
            "runtime_properties": {"port": 5432, "cfg": {"a": [1]}},
            "relationships": [],
        },
        {
            "id": "app_1",
            "node_id": "app",
            "runtime_properties": {},
            "relationships": [{"type": "x", "target_name": "vm", "target_id": "vm_2"}],
        },
        {
            "id": "app_2",
            "node_id": "app",
            "runtime_properties": {},
            "relationships": [],
            "scaling_groups": [{"name": "g", "id": "g_1"}],
        },
    ]
    return MemoryStorage(nodes=nodes, node_instances=instances, **kwargs)


def test_get_attribute_fallbacks():
    storage = _storage()
    ctx = {"self": "db_1"}
    assert evaluate_functions({"get_attribute": ["SELF", "port"]}, ctx, storage) == 5432
    assert evaluate_functions({"get_attribute": ["SELF", "cfg", "a", 0]}, ctx, storage) == 1
    assert (
        evaluate_functions({"get_attribute": ["SELF", "node_instance_id"]}, ctx, storage) == "db_1"
    )
    assert evaluate_functions({"get_attribute": ["vm", "size"]}, {"self": "app_1"}, storage) == 2
    assert evaluate_functions({"get_attribute": ["SELF", "missing"]}, ctx, storage) is None


def test_get_attribute_disambiguation():
    storage = _storage()
    # through the caller's relationship
    assert (
        evaluate_functions({"get_attribute": ["vm", "ip"]}, {"self": "app_1"}, storage)
        == "10.0.0.2"
    )
    # through the shared scaling-group instance
    assert (
        evaluate_functions({"get_attribute": ["vm", "ip"]}, {"self": "app_2"}, storage)
        == "10.0.0.1"
    )
    with pytest.raises(FunctionEvaluationError, match="More than one node instance found"):
        evaluate_functions({"get_attribute": ["vm", "ip"]}, {"self": "db_1"}, storage)


def test_get_attributes_list_and_dict():
    storage = _storage()
    assert evaluate_functions({"get_attributes_list": ["vm", "ip"]}, {}, storage) == [
        "10.0.0.1",
        "10.0.0.2",
    ]
    assert evaluate_functions(
        {"get_attributes_dict": ["vm", "ip", "node_instance_index"]}, {}, storage
    ) == {
        "vm_1": {"ip": "10.0.0.1", "node_instance_index": 1},
        "vm_2": {"ip": "10.0.0.2", "node_instance_index": 2},
    }


def test_relationship_context():
    storage = _storage()
    value = evaluate_functions(
        {
            "concat": [
                {"get_attribute": ["SOURCE", "node_instance_id"]},
                "->",
                {"get_attribute": ["TARGET", "port"]},
            ]
        },
        {"source": "app_1", "target": "db_1"},
        storage,
    )
    assert value == "app_1->5432"


def test_get_secret():
    storage = _storage(secrets={"pw": "s3cret", "js": '{"a": [1, 2]}'})
    assert evaluate_functions({"get_secret": "pw"}, {}, storage) == "s3cret"
    assert evaluate_functions({"get_secret": ["js", "a", 1]}, {}, storage) == 2
    with pytest.raises(UnknownSecretError) as info:
        evaluate_functions({"get_secret": "nope"}, {}, storage)
    assert info.value.error_code == "unknown_deployment_secret_error"
    with pytest.raises(UnsupportedGetSecretError):
        Evaluator(runtime=True).evaluate({"get_secret": "pw"}, Scope())


def test_other_runtime_functions():
    storage = _storage(
        capabilities={"infra": {"endpoint": {"host": "h"}}},
        labels={"env": ["dev", "prod"]},
        sys={("tenant", "name"): "default_tenant"},
        consumers={"count": 2},
        environment_capabilities={"net": "n1"},
    )
    assert evaluate_functions({"get_capability": ["infra", "endpoint", "host"]}, {}, storage) == "h"
    assert evaluate_functions({"get_label": "env"}, {}, storage) == ["dev", "prod"]
    assert evaluate_functions({"get_label": ["env", 1]}, {}, storage) == "prod"
    assert evaluate_functions({"get_sys": ["tenant", "name"]}, {}, storage) == "default_tenant"
    assert evaluate_functions({"get_consumers": "count"}, {}, storage) == 2
    assert evaluate_functions({"get_environment_capability": "net"}, {}, storage) == "n1"


def test_outputs_with_errors_render_error_strings():
    storage = _storage()
    values = evaluate_outputs(
        {
            "ok": {"value": {"get_attribute": ["db", "port"]}},
            "bad": {"value": {"get_attribute": ["vm", "ip"]}},
        },
        storage,
    )
    assert values["ok"] == 5432
    assert values["bad"].startswith("<ERROR: More than one node instance found")


def test_function_with_type_key_is_recognised():
    ev = Evaluator(inputs={"x": 5})
    assert ev.evaluate({"get_input": "x", "type": "integer"}, Scope()) == 5


def test_requirements_list_secrets():
    plan = parse("""
    node_templates:
      n:
        type: cloudify.nodes.Root
        properties: {resource_id: {get_secret: db_pw}}
    """)
    assert plan["requirements"] == {"parent_capabilities": [], "secrets": ["db_pw"]}


def test_runtime_evaluation_over_a_created_deployment():
    plan = parse("""
    node_templates:
      vm:
        type: cloudify.nodes.Compute
        capabilities: {scalable: {properties: {default_instances: 2}}}
      app:
        type: cloudify.nodes.Root
        properties:
          resource_id: {get_attribute: [vm, ip]}
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
    groups:
      g: {members: [vm]}
    policies:
      p: {type: cloudify.policies.scaling, targets: [g]}
    """)
    dep = create_deployment_plan(plan, {}, id_factory=sequential_ids())
    for inst in dep["node_instances"]:
        inst["runtime_properties"] = {"ip": f"ip-of-{inst['id']}"}
    storage = MemoryStorage(nodes=dep["nodes"], node_instances=dep["node_instances"])
    app = next(n for n in dep["nodes"] if n["id"] == "app")
    for inst in dep["node_instances"]:
        if inst["node_id"] == "app":
            host = inst["host_id"]
            value = evaluate_functions(app["properties"], {"self": inst["id"]}, storage)
            assert value["resource_id"] == f"ip-of-{host}"


def test_get_attribute_resolves_through_the_group_instance_of_the_caller_host():
    # app lists no scaling group (it is in `pair` only through vm), so the shared group
    # instance is found by walking up its containment, as cloudify does
    plan = parse("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      db: {type: cloudify.nodes.Root}
      app:
        type: cloudify.nodes.Root
        properties:
          resource_id: {get_attribute: [db, port]}
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
    groups:
      pair: {members: [vm, db]}
    policies:
      p: {type: cloudify.policies.scaling, properties: {default_instances: 3}, targets: [pair]}
    """)
    dep = create_deployment_plan(plan, {}, id_factory=sequential_ids())
    for inst in dep["node_instances"]:
        inst["runtime_properties"] = {"port": f"port-of-{inst['id']}"}
    storage = MemoryStorage(nodes=dep["nodes"], node_instances=dep["node_instances"])
    by_id = {i["id"]: i for i in dep["node_instances"]}
    group_of = {
        i["id"]: i["scaling_groups"][0]["id"] for i in by_id.values() if i.get("scaling_groups")
    }
    apps = [i for i in by_id.values() if i["node_id"] == "app"]
    assert len(apps) == 3 and all("scaling_groups" not in a for a in apps)
    for app in apps:
        value = evaluate_functions({"get_attribute": ["db", "port"]}, {"self": app["id"]}, storage)
        (db,) = [
            i
            for i in by_id.values()
            if i["node_id"] == "db" and group_of[i["id"]] == group_of[app["host_id"]]
        ]
        assert value == f"port-of-{db['id']}"


def test_unknown_context_instance():
    with pytest.raises(FunctionEvaluationError, match="Node instance 'ghost' does not exist"):
        evaluate_functions({"get_attribute": ["SELF", "ip"]}, {"self": "ghost"}, _storage())
