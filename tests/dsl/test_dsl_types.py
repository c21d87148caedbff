"""Node types, relationship types and data types (§7-§9), and top-level schema rules."""

from .conftest import issues, node, one_issue, parse


def test_type_hierarchy_and_property_inheritance():
    plan = parse("""
    node_types:
      a.Base:
        derived_from: cloudify.nodes.Root
        properties:
          x: {default: 1}
          y: {default: 2}
      a.Derived:
        derived_from: a.Base
        properties:
          y: {default: 20}
    node_templates:
      n: {type: a.Derived}
    """)
    n = node(plan, "n")
    assert n["type_hierarchy"] == ["cloudify.nodes.Root", "a.Base", "a.Derived"]
    assert n["properties"] == {"use_external_resource": False, "x": 1, "y": 20}


def test_interfaces_merge_per_operation():
    plan = parse("""
    plugins:
      p: {executor: central_deployment_agent, source: p}
    node_types:
      a.Base:
        derived_from: cloudify.nodes.Root
        interfaces:
          my.iface:
            one: p.one
            two: p.two
      a.Derived:
        derived_from: a.Base
        interfaces:
          my.iface:
            two: {}
            three: p.three
    node_templates:
      n: {type: a.Derived}
    """)
    ops = node(plan, "n")["operations"]
    assert ops["my.iface.one"]["operation"] == "one"
    assert ops["my.iface.two"]["plugin"] == ""
    assert ops["my.iface.three"]["operation"] == "three"


def test_unknown_derived_from():
    issue = one_issue("node_types:\n  a.T: {derived_from: nope}\n")
    assert issue.code == "unknown_derived_from"
    assert issue.message == (
        "Missing definition for node type 'nope' which is declared as derived by node type 'a.T'"
    )


def test_cyclic_derivation():
    found = issues("node_types:\n  a: {derived_from: b}\n  b: {derived_from: a}\n")
    assert {i.code for i in found} == {"cyclic_derivation"}


def test_unknown_key_in_node_type():
    issue = one_issue("node_types:\n  a.T:\n    foo: 1\n")
    assert issue.code == "unknown_key"
    assert issue.message == "'foo' is not in schema (node type 'a.T')"
    assert (issue.line, issue.column) == (5, 5)


def test_unknown_top_level_section():
    issue = one_issue("foo: bar\n")
    assert (issue.code, issue.message) == ("unknown_section", "'foo' is not in schema")


def test_upload_resources_rejected():
    assert one_issue("upload_resources: {}\n").code == "unknown_section"


def test_missing_definitions_version():
    issue = one_issue("node_types: {}\n", header="")
    assert issue.code == "missing_definitions_version"


def test_invalid_definitions_version():
    issue = one_issue("", header="tosca_definitions_version: cloudify_dsl_9_9\n")
    assert issue.code == "invalid_definitions_version"


def test_feature_gate_data_types_below_1_2():
    issue = one_issue(
        "data_types:\n  d: {}\n", header="tosca_definitions_version: cloudify_dsl_1_1\n"
    )
    assert issue.code == "feature_version"
    assert issue.message == (
        "'data_types' is not supported in cloudify_dsl_1_1; it requires cloudify_dsl_1_2 or later"
    )


def test_feature_gate_policies_below_1_3():
    found = issues("policies: {}\n", header="tosca_definitions_version: cloudify_dsl_1_2\n")
    assert [i.code for i in found] == ["feature_version"]


def test_runtime_properties_accepted_in_1_4():
    plan = parse(
        "node_types:\n  a.T:\n    derived_from: cloudify.nodes.Root\n"
        "    runtime_properties: {x: {}}\n"
    )
    assert plan["nodes"] == []


def test_data_type_defaults_and_nested_validation():
    plan = parse("""
    data_types:
      my.Endpoint:
        properties:
          ip: {type: string}
          port: {type: integer, default: 2233}
      my.Pair:
        properties:
          a: {type: my.Endpoint}
          note: {type: string, required: false}
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        properties:
          pair: {type: my.Pair}
    node_templates:
      n:
        type: a.T
        properties:
          pair: {a: {ip: 10.0.0.1}}
    """)
    assert node(plan, "n")["properties"]["pair"] == {"a": {"ip": "10.0.0.1", "port": 2233}}


def test_data_type_unknown_and_missing_nested_keys():
    found = issues("""
    data_types:
      my.Endpoint:
        properties:
          ip: {type: string}
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        properties:
          ep: {type: my.Endpoint}
    node_templates:
      n:
        type: a.T
        properties:
          ep: {host: x}
    """)
    assert sorted(i.code for i in found) == ["missing_property", "unknown_property"]


def test_derived_data_type_deep_merges_defaults():
    plan = parse("""
    data_types:
      base.D:
        properties:
          conf: {type: dict, default: {a: 1, b: 2}}
      child.D:
        derived_from: base.D
        properties:
          conf: {type: dict, default: {b: 3}}
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        properties:
          d: {type: child.D, default: {}}
    node_templates:
      n: {type: a.T}
    """)
    assert node(plan, "n")["properties"]["d"] == {"conf": {"a": 1, "b": 3}}


def test_primitive_type_cannot_be_redefined():
    assert one_issue("data_types:\n  integer: {}\n").code == "redefined_primitive"


def test_unknown_property_type():
    issue = one_issue("node_types:\n  a.T:\n    properties:\n      p: {type: nope}\n")
    assert issue.code == "unknown_data_type"


def test_relationship_type_inheritance():
    plan = parse("""
    relationships:
      my.rel:
        derived_from: cloudify.relationships.connected_to
        properties:
          extra: {default: 1}
    node_templates:
      a: {type: cloudify.nodes.Root}
      b:
        type: cloudify.nodes.Root
        relationships:
          - {type: my.rel, target: a}
    """)
    rel = node(plan, "b")["relationships"][0]
    assert rel["type_hierarchy"] == [
        "cloudify.relationships.depends_on",
        "cloudify.relationships.connected_to",
        "my.rel",
    ]
    assert rel["properties"] == {"connection_type": "all_to_all", "extra": 1}
    assert "my.rel" in plan["relationships"]
