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


def test_derived_data_type_replaces_a_dict_default_whole():
    # cloudify merges a redeclared default only for data-typed properties; `dict` is primitive
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
    assert node(plan, "n")["properties"]["d"] == {"conf": {"b": 3}}


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


# Data-typed property defaults, as cloudify-common 7.0.5 builds them (cases checked against it)

DATA_TYPES = """
    data_types:
      acme.E:
        description: an endpoint
        version: '2'
        properties:
          port: {type: integer, default: 2233}
          tls: {type: boolean, default: false}
          limits: {type: dict, default: {cpu: 1, mem: 2}}
      acme.S:
        properties:
          e: {type: acme.E}
          o: {type: acme.E, required: false, default: {port: 1}}
      acme.Child:
        derived_from: acme.S
        properties:
          o: {type: acme.E, default: {tls: true}}
"""


def test_data_type_plan_entry_lists_every_field():
    plan = parse(DATA_TYPES + "    node_templates: {}\n")
    entry = plan["data_types"]["acme.E"]
    assert (entry["description"], entry["derived_from"], entry["version"]) == (
        "an endpoint",
        None,
        "2",
    )
    assert plan["data_types"]["acme.Child"]["derived_from"] == "acme.S"
    assert plan["data_types"]["acme.S"]["description"] is None


def test_data_typed_property_default_is_built_from_the_data_type():
    plan = parse(DATA_TYPES + "    node_templates: {}\n")
    props = plan["data_types"]["acme.S"]["properties"]
    full = {"port": 2233, "tls": False, "limits": {"cpu": 1, "mem": 2}}
    assert props["e"] == {"type": "acme.E", "default": full}
    assert props["o"]["default"] == {**full, "port": 1}


def test_redeclared_data_typed_property_merges_the_parent_default():
    plan = parse(DATA_TYPES + "    node_templates: {}\n")
    default = plan["data_types"]["acme.Child"]["properties"]["o"]["default"]
    assert default == {"port": 1, "tls": True, "limits": {"cpu": 1, "mem": 2}}


def test_node_property_of_a_data_type_with_all_defaults_may_be_omitted():
    plan = parse(
        DATA_TYPES
        + """
    node_types:
      acme.N:
        derived_from: cloudify.nodes.Root
        properties:
          s: {type: acme.S}
          optional: {type: acme.E, required: false}
    node_templates:
      n: {type: acme.N}
    """
    )
    full = {"port": 2233, "tls": False, "limits": {"cpu": 1, "mem": 2}}
    props = node(plan, "n")["properties"]
    assert props["s"] == {"e": full, "o": {**full, "port": 1}}
    assert props["optional"] == full  # cloudify fills a data-typed property even if optional


def test_nested_value_replaces_a_dict_default_whole():
    plan = parse(
        DATA_TYPES
        + """
    node_types:
      acme.N:
        derived_from: cloudify.nodes.Root
        properties:
          e: {type: acme.E, default: {limits: {cpu: 3}}}
    node_templates:
      n: {type: acme.N}
      m:
        type: acme.N
        properties:
          e: {port: 9, limits: {mem: 9}}
    """
    )
    assert node(plan, "n")["properties"]["e"] == {"port": 2233, "tls": False, "limits": {"cpu": 3}}
    assert node(plan, "m")["properties"]["e"] == {"port": 9, "tls": False, "limits": {"mem": 9}}


def test_undefined_key_in_a_data_typed_default_is_refused():
    issue = one_issue("""
    data_types:
      acme.E:
        properties:
          port: {type: integer, default: 2233}
      acme.S:
        properties:
          e: {type: acme.E, default: {port: 1, host: x}}
    """)
    assert issue.code == "unknown_property"
    assert issue.message == (
        "Undefined property 'e.host' in the default value of a property of data type 'acme.S'"
    )


def test_data_types_using_each_other_do_not_loop():
    plan = parse("""
    data_types:
      acme.A:
        properties:
          b: {type: acme.B, required: false}
      acme.B:
        properties:
          a: {type: acme.A, required: false}
    node_templates: {}
    """)
    # acme.B is completed first, while acme.A is still incomplete: its `a` gets no default
    assert "default" not in plan["data_types"]["acme.B"]["properties"]["a"]
    assert plan["data_types"]["acme.A"]["properties"]["b"]["default"] == {}


def test_relationship_type_entry_keeps_derived_from():
    plan = parse("""
    relationships:
      my.rel: {derived_from: cloudify.relationships.connected_to}
    node_templates: {}
    """)
    assert plan["relationships"]["my.rel"]["derived_from"] == "cloudify.relationships.connected_to"
    assert "derived_from" not in plan["relationships"]["cloudify.relationships.depends_on"]
