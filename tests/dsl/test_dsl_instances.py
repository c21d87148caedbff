"""Deployment plans (§19): instance multiplication, relationships, scaling modifications."""

import re
from collections import Counter

import pytest

from manager.dsl import DeploymentPlanError, MissingRequiredInputError
from manager.dsl.instances import create_deployment_plan
from manager.dsl.modification import modify_deployment
from manager.dsl.topology import sequential_ids

from .conftest import one_issue, parse


def deploy(body, inputs=None):
    return create_deployment_plan(parse(body), inputs or {}, id_factory=sequential_ids())


def by_node(dep):
    out = {}
    for inst in dep["node_instances"]:
        out.setdefault(inst["node_id"], []).append(inst)
    return out


def targets(inst, name):
    return [r["target_id"] for r in inst["relationships"] if r["target_name"] == name]


def test_default_ids_format():
    dep = create_deployment_plan(parse("node_templates:\n  web: {type: cloudify.nodes.Root}\n"))
    assert re.fullmatch(r"web_[a-z0-9]{6}", dep["node_instances"][0]["id"])


def test_contained_in_multiplication():
    dep = deploy("""
    node_templates:
      host:
        type: cloudify.nodes.Compute
        capabilities: {scalable: {properties: {default_instances: 2}}}
      web:
        type: cloudify.nodes.WebServer
        capabilities: {scalable: {properties: {default_instances: 2}}}
        relationships: [{type: cloudify.relationships.contained_in, target: host}]
      app:
        type: cloudify.nodes.ApplicationModule
        relationships: [{type: cloudify.relationships.contained_in, target: web}]
    """)
    nodes = by_node(dep)
    assert Counter({k: len(v) for k, v in nodes.items()}) == {"host": 2, "web": 4, "app": 4}
    hosts = {h["id"] for h in nodes["host"]}
    webs = {w["id"]: w for w in nodes["web"]}
    for web in nodes["web"]:
        assert targets(web, "host")[0] in hosts
        assert web["host_id"] == targets(web, "host")[0]
    for app in nodes["app"]:
        parent = webs[targets(app, "web")[0]]
        assert app["host_id"] == parent["host_id"]
    assert Counter(targets(w, "host")[0] for w in nodes["web"]) == {h: 2 for h in hosts}
    assert len({targets(a, "web")[0] for a in nodes["app"]}) == 4
    assert sorted(i["index"] for i in nodes["web"]) == [1, 2, 3, 4]
    web_node = next(n for n in dep["nodes"] if n["id"] == "web")
    assert (
        web_node["number_of_instances"],
        web_node["min_number_of_instances"],
        web_node["max_number_of_instances"],
    ) == (2, 0, -1)


def test_all_to_all_and_all_to_one():
    dep = deploy("""
    node_templates:
      db:
        type: cloudify.nodes.Database
        capabilities: {scalable: {properties: {default_instances: 3}}}
      app:
        type: cloudify.nodes.Root
        capabilities: {scalable: {properties: {default_instances: 2}}}
        relationships:
          - {type: cloudify.relationships.connected_to, target: db}
      one:
        type: cloudify.nodes.Root
        capabilities: {scalable: {properties: {default_instances: 2}}}
        relationships:
          - type: cloudify.relationships.connected_to
            target: db
            properties: {connection_type: all_to_one}
    """)
    nodes = by_node(dep)
    db_ids = sorted(d["id"] for d in nodes["db"])
    for app in nodes["app"]:
        assert targets(app, "db") == [d["id"] for d in nodes["db"]]
    for one in nodes["one"]:
        assert targets(one, "db") == [db_ids[0]]


def test_relationship_order_follows_declaration():
    dep = deploy("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      a: {type: cloudify.nodes.Root, instances: {deploy: 2}}
      b: {type: cloudify.nodes.Root}
      app:
        type: cloudify.nodes.Root
        relationships:
          - {type: cloudify.relationships.connected_to, target: b}
          - {type: cloudify.relationships.contained_in, target: vm}
          - {type: cloudify.relationships.connected_to, target: a}
    """)
    app = by_node(dep)["app"][0]
    assert [r["target_name"] for r in app["relationships"]] == ["b", "vm", "a", "a"]


def test_scaling_group_multiplies_members():
    dep = deploy("""
    node_templates:
      vm:
        type: cloudify.nodes.Compute
        capabilities: {scalable: {properties: {default_instances: 3}}}
    groups:
      g: {members: [vm]}
    policies:
      p:
        type: cloudify.policies.scaling
        properties: {default_instances: 2}
        targets: [g]
    """)
    vms = by_node(dep)["vm"]
    assert len(vms) == 6
    group_ids = Counter(v["scaling_groups"][0]["id"] for v in vms)
    assert sorted(group_ids.values()) == [3, 3]
    assert all(re.fullmatch(r"g_[a-z0-9]{6}", g) for g in group_ids)


def test_nested_scaling_groups_multiply():
    dep = deploy("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
    groups:
      inner: {members: [vm]}
      outer: {members: [inner]}
    policies:
      pi: {type: cloudify.policies.scaling, properties: {default_instances: 2},
           targets: [inner]}
      po: {type: cloudify.policies.scaling, properties: {default_instances: 3},
           targets: [outer]}
    """)
    vms = by_node(dep)["vm"]
    assert len(vms) == 6
    assert [g["name"] for g in vms[0]["scaling_groups"]] == ["inner", "outer"]


def test_group_member_contained_in_outside_node():
    dep = deploy("""
    node_templates:
      host: {type: cloudify.nodes.Compute, instances: {deploy: 2}}
      app:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.contained_in, target: host}]
    groups:
      g: {members: [app]}
    policies:
      p: {type: cloudify.policies.scaling, properties: {default_instances: 2}, targets: [g]}
    """)
    nodes = by_node(dep)
    assert len(nodes["app"]) == 4
    assert Counter(targets(a, "host")[0] for a in nodes["app"]) == {
        h["id"]: 2 for h in nodes["host"]
    }


def test_connections_stay_inside_shared_group_instance():
    dep = deploy("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      db:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.connected_to, target: vm}]
    groups:
      pair: {members: [vm, db]}
    policies:
      p: {type: cloudify.policies.scaling, properties: {default_instances: 3},
          targets: [pair]}
    """)
    nodes = by_node(dep)
    vms = {v["id"]: v["scaling_groups"][0]["id"] for v in nodes["vm"]}
    for db in nodes["db"]:
        (target,) = targets(db, "vm")
        assert vms[target] == db["scaling_groups"][0]["id"]


def test_all_to_one_inside_shared_group_is_refused():
    with pytest.raises(DeploymentPlanError, match="UnsupportedAllToOneInGroup"):
        deploy("""
        node_templates:
          vm: {type: cloudify.nodes.Compute}
          db:
            type: cloudify.nodes.Root
            relationships:
              - type: cloudify.relationships.connected_to
                target: vm
                properties: {connection_type: all_to_one}
        groups:
          pair: {members: [vm, db]}
        policies:
          p: {type: cloudify.policies.scaling, targets: [pair]}
        """)


def test_instances_from_inputs_and_inputs_checked():
    body = """
    inputs:
      n: {type: integer}
    node_templates:
      a:
        type: cloudify.nodes.Root
        capabilities: {scalable: {properties: {default_instances: {get_input: n}}}}
    """
    assert len(deploy(body, {"n": "3"})["node_instances"]) == 3
    with pytest.raises(MissingRequiredInputError):
        deploy(body)


def test_zero_instances():
    dep = deploy("""
    node_templates:
      a: {type: cloudify.nodes.Root, capabilities: {scalable: {properties:
          {default_instances: 0}}}}
      b:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.connected_to, target: a}]
    """)
    assert [i["node_id"] for i in dep["node_instances"]] == ["b"]
    assert dep["node_instances"][0]["relationships"] == []


def test_inter_deployment_dependencies_recorded():
    dep = deploy("""
    outputs:
      o: {value: {get_capability: [infra, endpoint]}}
    """)
    assert dep["inter_deployment_dependencies"] == [
        {
            "function_identifier": "outputs.o",
            "target_deployment": "infra",
            "function": {"get_capability": ["infra", "endpoint"]},
        }
    ]


# ----- modification (§19.7) ------------------------------------------------------------

APP = """
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      app:
        type: cloudify.nodes.ApplicationModule
        relationships:
          - {type: cloudify.relationships.contained_in, target: vm}
          - {type: cloudify.relationships.connected_to, target: db}
      db: {type: cloudify.nodes.Database}
"""


def modify(dep, changes, **kwargs):
    ids = sequential_ids({i["id"] for i in dep["node_instances"]})
    return modify_deployment(dep["nodes"], dep["node_instances"], changes, id_factory=ids, **kwargs)


def marks(instances):
    return sorted((i["node_id"], i.get("modification")) for i in instances)


def test_scale_out_host_adds_contained_and_relates():
    result = modify(deploy(APP), {"vm": {"instances": 2}})
    assert marks(result["added_and_related"]) == [("app", "added"), ("db", None), ("vm", "added")]
    new_app = next(
        i
        for i in result["added_and_related"]
        if i["node_id"] == "app" and i.get("modification") == "added"
    )
    assert targets(new_app, "db") == ["db_000001"]
    assert result["extended_and_related"] == []
    assert len(result["node_instances"]) == 5


def test_scale_out_target_extends_existing_source():
    result = modify(deploy(APP), {"db": {"instances": 2}})
    assert marks(result["added_and_related"]) == [("db", "added")]
    assert marks(result["extended_and_related"]) == [("app", "extended"), ("db", None)]
    extended = result["extended_and_related"][0]
    assert [r["target_id"] for r in extended["relationships"]] == ["db_000002"]


def test_scale_in_uses_hints():
    dep = deploy(
        APP.replace(
            "db: {type: cloudify.nodes.Database}",
            "db: {type: cloudify.nodes.Database, instances: {deploy: 3}}",
        )
    )
    result = modify(
        dep,
        {
            "db": {
                "instances": 1,
                "removed_ids_include_hint": ["db_000003"],
                "removed_ids_exclude_hint": ["db_000001"],
            }
        },
    )
    removed = [i["id"] for i in result["removed_and_related"] if i.get("modification")]
    assert sorted(removed) == ["db_000002", "db_000003"]
    reduced = [i for i in result["reduced_and_related"] if i.get("modification")]
    assert [i["node_id"] for i in reduced] == ["app"]
    assert sorted(r["target_id"] for r in reduced[0]["relationships"]) == ["db_000002", "db_000003"]


def test_scale_in_host_removes_contained():
    dep = deploy(
        APP.replace(
            "vm: {type: cloudify.nodes.Compute}",
            "vm: {type: cloudify.nodes.Compute, instances: {deploy: 2}}",
        )
    )
    result = modify(dep, {"vm": {"instances": 1, "removed_ids_include_hint": ["vm_000002"]}})
    assert marks(result["removed_and_related"]) == [
        ("app", "removed"),
        ("db", None),
        ("vm", "removed"),
    ]


def test_scale_scaling_group():
    dep = deploy("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      app:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
    groups:
      g: {members: [vm]}
    policies:
      p: {type: cloudify.policies.scaling, targets: [g]}
    """)
    result = modify(dep, {"g": {"instances": 3}}, scaling_groups=dep["scaling_groups"])
    added = [i for i in result["added_and_related"] if i.get("modification") == "added"]
    assert Counter(i["node_id"] for i in added) == {"vm": 2, "app": 2}
    group_ids = {i["scaling_groups"][0]["id"] for i in added if i["node_id"] == "vm"}
    assert len(group_ids) == 2
    # app is in g only through its host: it lists no scaling group (as in cloudify)
    assert all(not i.get("scaling_groups") for i in added if i["node_id"] == "app")


# Matches with cloudify-common 7.0.5 (each case checked against it)


def test_one_instance_relationship_per_target_node_the_last_declared_wins():
    dep = deploy("""
    node_templates:
      host: {type: cloudify.nodes.Compute}
      a: {type: cloudify.nodes.Root}
      b: {type: cloudify.nodes.Root}
      app:
        type: cloudify.nodes.Root
        relationships:
          - {type: cloudify.relationships.connected_to, target: a}
          - {type: cloudify.relationships.contained_in, target: host}
          - {type: cloudify.relationships.depends_on, target: b}
          - {type: cloudify.relationships.depends_on, target: a}
    """)
    (app,) = by_node(dep)["app"]
    # cloudify's node graph holds one edge per (source, target): the later relationship
    # replaces the earlier one and takes its place in the order
    assert [(r["type"], r["target_name"]) for r in app["relationships"]] == [
        ("cloudify.relationships.contained_in", "host"),
        ("cloudify.relationships.depends_on", "b"),
        ("cloudify.relationships.depends_on", "a"),
    ]


def test_instance_in_a_group_only_through_its_host_lists_no_scaling_group():
    dep = deploy("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      app:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
    groups:
      inner: {members: [vm]}
      outer: {members: [inner]}
    policies:
      pi: {type: cloudify.policies.scaling, properties: {default_instances: 2}, targets: [inner]}
      po: {type: cloudify.policies.scaling, targets: [outer]}
    """)
    nodes = by_node(dep)
    assert [g["name"] for g in nodes["vm"][0]["scaling_groups"]] == ["inner", "outer"]
    assert all("scaling_groups" not in a for a in nodes["app"])


def test_scaling_a_group_rebuilds_contained_instances_from_their_host():
    dep = deploy("""
    node_templates:
      vm: {type: cloudify.nodes.Compute}
      app:
        type: cloudify.nodes.Root
        relationships: [{type: cloudify.relationships.contained_in, target: vm}]
    groups:
      g: {members: [vm]}
    policies:
      p: {type: cloudify.policies.scaling, properties: {default_instances: 2}, targets: [g]}
    """)
    result = modify(dep, {"g": {"instances": 1}}, scaling_groups=dep["scaling_groups"])
    removed = [i for i in result["removed_and_related"] if i.get("modification") == "removed"]
    assert Counter(i["node_id"] for i in removed) == {"vm": 1, "app": 1}
    (vm,) = [i for i in removed if i["node_id"] == "vm"]
    (app,) = [i for i in removed if i["node_id"] == "app"]
    assert targets(app, "vm") == [vm["id"]]


def test_instance_count_from_an_input_is_not_range_checked():
    dep = deploy(
        """
    inputs:
      n: {default: 1}
    node_templates:
      vm:
        type: cloudify.nodes.Compute
        capabilities:
          scalable: {properties: {default_instances: {get_input: n}, min_instances: 2}}
    """,
    )
    (vm_node,) = dep["nodes"]
    assert vm_node["number_of_instances"] == 1
    assert len(dep["node_instances"]) == 1


def test_literal_instance_counts_are_range_checked_pairwise():
    issue = one_issue("""
    inputs:
      m: {default: 5}
    node_templates:
      vm:
        type: cloudify.nodes.Compute
        capabilities:
          scalable:
            properties: {default_instances: 1, min_instances: 2, max_instances: {get_input: m}}
    """)
    assert issue.code == "invalid_scalable"


def test_interfaces_show_evaluated_inputs_of_plugin_operations_only(tmp_path):
    (tmp_path / "create.sh").write_text("")
    plan = parse(
        """
    plugins:
      p: {executor: central_deployment_agent, source: p}
    inputs:
      token: {default: abc}
    node_templates:
      t: {type: cloudify.nodes.Root}
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: {implementation: create.sh, inputs: {tok: {get_input: token}}}
            configure: {implementation: p.tasks.configure, inputs: {tok: {get_input: token}}}
        relationships:
          - type: cloudify.relationships.connected_to
            target: t
            source_interfaces:
              cloudify.interfaces.relationship_lifecycle:
                preconfigure:
                  implementation: p.tasks.pre
                  inputs: {tok: {string_upper: {get_input: token}}}
    """,
        root=tmp_path,
    )
    dep = create_deployment_plan(plan, {}, id_factory=sequential_ids())
    n = next(x for x in dep["nodes"] if x["id"] == "n")
    lifecycle = n["interfaces"]["cloudify.interfaces.lifecycle"]
    # a plugin operation's inputs are its interface entry's in cloudify; a script's a copy
    assert lifecycle["configure"]["inputs"] == {"tok": "abc"}
    assert lifecycle["create"]["inputs"] == {"tok": {"get_input": "token"}}
    assert n["operations"]["cloudify.interfaces.lifecycle.create"]["inputs"]["tok"] == "abc"
    rel = n["relationships"][0]
    pre = rel["source_interfaces"]["cloudify.interfaces.relationship_lifecycle"]["preconfigure"]
    assert pre["inputs"] == {"tok": "ABC"}
    # the plan itself is left as it was
    raw = next(x for x in plan["nodes"] if x["id"] == "n")["interfaces"]
    assert raw["cloudify.interfaces.lifecycle"]["configure"]["inputs"] == {
        "tok": {"get_input": "token"}
    }
