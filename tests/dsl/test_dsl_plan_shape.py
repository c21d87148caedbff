"""Whole blueprints: the plan's shape (cloudify-common 7.0.5 keys) and deployment plans."""

import json

import pytest

from manager.dsl import parse_blueprint, parse_text
from manager.dsl.instances import create_deployment_plan
from manager.dsl.loader import YDict, YList
from manager.dsl.topology import sequential_ids

from .conftest import FIXTURES, node, parse

PLAN_KEYS = {
    "blueprint_labels",
    "capabilities",
    "data_types",
    "deployment_plugins_to_install",
    "deployment_settings",
    "description",
    "groups",
    "host_agent_plugins_to_install",
    "imported_blueprints",
    "inputs",
    "labels",
    "metadata",
    "namespaces_mapping",
    "nodes",
    "outputs",
    "policies",
    "policy_triggers",
    "policy_types",
    "relationships",
    "requirements",
    "resource_tags",
    "scaling_groups",
    "version",
    "workflow_plugins_to_install",
    "workflows",
}
NODE_KEYS = {
    "id",
    "name",
    "type",
    "type_hierarchy",
    "properties",
    "interfaces",
    "operations",
    "relationships",
    "plugins",
    "deployment_plugins_to_install",
    "capabilities",
    "instances",
}


def assert_plain(value, path="plan"):
    assert not isinstance(value, YDict | YList), path
    if isinstance(value, dict):
        for k, v in value.items():
            assert_plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_plain(v, f"{path}[{i}]")


@pytest.mark.parametrize("name", ["hello", "full"])
def test_fixture_blueprints_parse_and_deploy(name):
    plan = parse_blueprint(FIXTURES / name, "blueprint.yaml")
    assert set(plan) == PLAN_KEYS
    for n in plan["nodes"]:
        assert set(n) >= NODE_KEYS
    assert_plain(plan)
    json.dumps(plan)
    dep = create_deployment_plan(plan, {}, id_factory=sequential_ids())
    json.dumps(dep)
    assert dep["node_instances"]


def test_hello_plan_details():
    plan = parse_blueprint(FIXTURES / "hello", "blueprint.yaml")
    assert plan["version"] == {
        "raw": "cloudify_dsl_1_4",
        "definitions_name": "cloudify_dsl",
        "definitions_version": [1, 4],
    }
    assert plan["description"] == "A hello-world web server on an existing host."
    web = node(plan, "http_web_server")
    assert web["host_id"] == "vm"
    start = web["operations"]["cloudify.interfaces.lifecycle.start"]
    assert start["inputs"] == {
        "port": {"get_property": ["SELF", "port"]},
        "script_path": "scripts/start.sh",
    }
    dep = create_deployment_plan(plan, {"webserver_port": "9000"}, id_factory=sequential_ids())
    assert dep["outputs"]["http_endpoint"]["value"] == "http://127.0.0.1:9000"
    dep_web = next(n for n in dep["nodes"] if n["id"] == "http_web_server")
    assert dep_web["operations"]["cloudify.interfaces.lifecycle.start"]["inputs"]["port"] == 9000


def test_full_plan_details():
    plan = parse_blueprint(FIXTURES / "full", "blueprint.yaml")
    app = node(plan, "app")
    assert app["operations"]["cloudify.interfaces.lifecycle.create"]["max_retries"] == 5
    # as cloudify lists them: the argument as written, once per operation name (full, short)
    secret = {"get_input": "secret_name"}
    assert plan["requirements"] == {"parent_capabilities": [], "secrets": [secret, secret]}
    assert plan["scaling_groups"]["vm_and_app"]["members"] == ["vm"]
    assert plan["inputs"]["secret_name"]["hidden"] is True
    establish = app["relationships"][1]["source_operations"]["establish"]
    assert establish["inputs"]["db_host"] == {"get_property": ["TARGET", "endpoint", "host"]}
    dep = create_deployment_plan(plan, {"db_size": 3}, id_factory=sequential_ids())
    counts = {}
    for inst in dep["node_instances"]:
        counts[inst["node_id"]] = counts.get(inst["node_id"], 0) + 1
    assert counts == {"network": 1, "vm": 1, "db": 3, "app": 1, "monitor": 1}
    monitor = next(i for i in dep["node_instances"] if i["node_id"] == "monitor")
    assert [r["target_id"] for r in monitor["relationships"]] == ["db_000001"]
    dep_app = next(n for n in dep["nodes"] if n["id"] == "app")
    rel_op = dep_app["relationships"][1]["source_operations"]["establish"]
    assert rel_op["inputs"]["db_host"] == "db.local"
    assert dep["outputs"]["db_endpoint"]["value"] == {"host": "db.local", "port": 5432}
    assert dep["labels"] == {"tier": {"values": ["backend", "dev"]}}
    assert dep["deployment_settings"] == {"display_name": "full-dev", "default_schedules": {}}
    assert dep["capabilities"]["env"]["value"] == "dev"


def test_plan_for_minimal_blueprint_without_types():
    plan = parse_text("tosca_definitions_version: cloudify_dsl_1_0\n")
    assert plan["nodes"] == [] and plan["workflows"] == {}
    assert plan["version"]["definitions_version"] == [1, 0]


def test_defaults_cloudify_gives_an_empty_blueprint():
    plan = parse("node_templates:\n  n: {type: cloudify.nodes.Root}\n")
    assert plan["metadata"] == {"cloudify_types": True}  # from the standard types
    assert plan["resource_tags"] == {}
    assert plan["requirements"] == {"parent_capabilities": [], "secrets": []}
    assert plan["deployment_settings"] == {}


def test_first_metadata_wins_over_the_standard_types():
    plan = parse("metadata: {owner: me}\nnode_templates: {}\n")
    assert plan["metadata"] == {"owner": "me"}


def test_deployment_settings_always_list_default_schedules():
    plan = parse("deployment_settings: {display_name: x}\nnode_templates: {}\n")
    assert plan["deployment_settings"] == {"display_name": "x", "default_schedules": {}}
    plan = parse("deployment_settings: {default_schedules: null}\nnode_templates: {}\n")
    assert plan["deployment_settings"] == {"default_schedules": {}}


def test_label_keys_keep_their_case():
    plan = parse("""
    labels:
      Tier: {values: [Web]}
    blueprint_labels:
      Owner: {values: [Me]}
    node_templates: {}
    """)
    assert plan["labels"] == {"Tier": {"values": ["Web"]}}
    assert plan["blueprint_labels"] == {"Owner": {"values": ["Me"]}}


def test_requirements_list_what_cloudify_scans_in_its_order():
    plan = parse("""
    plugins:
      p: {executor: central_deployment_agent, source: p}
    node_templates:
      n:
        type: cloudify.nodes.Root
        properties:
          resource_id: {concat: [{get_secret: s1}, {get_secret: [s2, key]}, {get_secret: s1}]}
        interfaces:
          cloudify.interfaces.lifecycle:
            configure: {implementation: p.tasks.configure, inputs: {a: {get_secret: s3}}}
            start: {implementation: '', inputs: {a: {get_secret: unused}}}
    outputs:
      o: {value: {get_environment_capability: cap}}
      o2: {value: {get_environment_capability: [cap, sub]}}
    deployment_settings:
      display_name: {get_secret: s4}
    """)
    # `configure` is scanned twice (short and full name); a no-op's inputs are dropped
    assert plan["requirements"] == {
        "parent_capabilities": [["cap"], ["cap", "sub"]],
        "secrets": ["s1", ["s2", "key"], "s1", "s3", "s3", "s4"],
    }
    dep = create_deployment_plan(plan, {})
    assert dep["secrets"] == ["s1", "s2", "s3", "s4"]


def test_operations_list_each_short_name_before_its_full_name():
    plan = parse("""
    node_types:
      a.T:
        properties: {}
        interfaces:
          one: {x: {implementation: ''}, y: {implementation: ''}}
          two: {x: {implementation: ''}, z: {implementation: ''}}
    node_templates:
      n: {type: a.T}
    """)
    assert list(node(plan, "n")["operations"]) == ["one.x", "y", "one.y", "two.x", "z", "two.z"]
