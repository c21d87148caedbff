"""Operations (§11): forms, merging, implementation mapping and the plan entries."""

import pytest

from manager.dsl import BlueprintInvalid, parse_blueprint

from .conftest import issues, node, one_issue, parse, write_tree

PLUGIN = """
    plugins:
      p: {executor: central_deployment_agent, source: p}
"""


def test_short_and_long_forms():
    plan = parse(
        PLUGIN
        + """
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: p.mod.create
            configure:
              implementation: p.mod.configure
              inputs: {a: 1}
              executor: central_deployment_agent
              max_retries: 3
              retry_interval: 5
              timeout: 60
              timeout_recoverable: true
    """
    )
    ops = node(plan, "n")["operations"]
    assert ops["cloudify.interfaces.lifecycle.create"] == {
        "implementation": "p.mod.create",
        "plugin": "p",
        "operation": "mod.create",
        "executor": "central_deployment_agent",
        "inputs": {},
        "has_intrinsic_functions": False,
        "max_retries": None,
        "retry_interval": None,
        "timeout": None,
        "timeout_recoverable": None,
    }
    configure = ops["configure"]
    assert (
        configure["max_retries"],
        configure["retry_interval"],
        configure["timeout"],
        configure["timeout_recoverable"],
        configure["inputs"],
    ) == (3, 5, 60, True, {"a": 1})


def test_short_names_only_when_unique():
    ops = node(parse("node_templates:\n  n: {type: cloudify.nodes.Root}\n"), "n")["operations"]
    for ambiguous in ("create", "start", "stop", "delete"):
        assert ambiguous not in ops
    for unique in ("configure", "precreate", "poststart", "heal"):
        assert unique in ops
    assert ops["cloudify.interfaces.validation.create"]["plugin"] == ""


def test_nop_operation_entry():
    ops = node(parse("node_templates:\n  n: {type: cloudify.nodes.Root}\n"), "n")["operations"]
    assert ops["configure"] == {
        "implementation": "",
        "plugin": "",
        "operation": "",
        "executor": None,
        "inputs": {},
        "has_intrinsic_functions": False,
        "max_retries": None,
        "retry_interval": None,
        "timeout": None,
        "timeout_recoverable": None,
    }


def test_template_inherits_type_implementation_and_needs_inputs():
    found = issues(
        PLUGIN
        + """
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        interfaces:
          my.i:
            op:
              implementation: p.op
              inputs:
                needed: {type: string}
                optional: {default: 1}
              max_retries: 2
    node_templates:
      ok:
        type: a.T
        interfaces:
          my.i:
            op:
              inputs: {needed: x, extra: y}
              retry_interval: 9
      bad:
        type: a.T
        interfaces:
          my.i:
            op: {inputs: {}}
    """
    )
    assert [i.code for i in found] == ["missing_operation_input"]
    assert found[0].message.startswith("Input 'needed' is missing a value")


def test_template_operation_merge_values():
    plan = parse(
        PLUGIN
        + """
    node_types:
      a.T:
        derived_from: cloudify.nodes.Root
        interfaces:
          my.i:
            op:
              implementation: p.op
              inputs:
                optional: {default: 1}
              max_retries: 2
    node_templates:
      inherit:
        type: a.T
        interfaces:
          my.i:
            op: {inputs: {extra: y}, retry_interval: 9}
      replace:
        type: a.T
        interfaces:
          my.i:
            op: p.other
      nop:
        type: a.T
        interfaces:
          my.i:
            op: {}
    """
    )
    op = node(plan, "inherit")["operations"]["op"]
    assert op["inputs"] == {"optional": 1, "extra": "y"}
    assert (op["max_retries"], op["retry_interval"]) == (2, 9)
    replaced = node(plan, "replace")["operations"]["op"]
    assert (replaced["operation"], replaced["inputs"], replaced["max_retries"]) == (
        "other",
        {},
        None,
    )
    assert node(plan, "nop")["operations"]["op"]["plugin"] == ""


def test_script_mapping(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": """tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  vm: {type: cloudify.nodes.Compute}
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/create.sh
        configure:
          implementation: scripts/create.sh
          executor: central_deployment_agent
          inputs: {x: 1}
  hosted:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        start: https://example.com/start.sh
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
""",
            "scripts/create.sh": "#!/bin/sh\n",
        },
    )
    plan = parse_blueprint(tmp_path, "blueprint.yaml")
    ops = node(plan, "n")["operations"]
    create = ops["cloudify.interfaces.lifecycle.create"]
    assert (create["plugin"], create["operation"], create["executor"]) == (
        "script",
        "script_runner.tasks.run",
        "auto",
    )
    assert create["inputs"] == {"script_path": "scripts/create.sh"}
    assert ops["configure"]["inputs"] == {"x": 1, "script_path": "scripts/create.sh"}
    assert ops["configure"]["executor"] == "central_deployment_agent"
    start = node(plan, "hosted")["operations"]["cloudify.interfaces.lifecycle.start"]
    assert start["inputs"]["script_path"] == "https://example.com/start.sh"


def test_inline_script_becomes_script_source():
    plan = parse("""
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            configure: |
              echo one
              echo two
    """)
    op = node(plan, "n")["operations"]["configure"]
    assert op["inputs"] == {"script_source": "echo one\necho two\n"}


def test_missing_script_file_is_an_error(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": """tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/missing.sh
"""
        },
    )
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    issue = info.value.issues[0]
    assert issue.code == "operation_mapping_unresolved"
    assert issue.message.startswith(
        "Could not extract plugin or a script resource is not found from operation mapping "
        "'scripts/missing.sh', which is declared for operation 'create'"
    )


def test_script_path_declared_twice(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": """tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        configure:
          implementation: s.sh
          inputs: {script_path: other.sh}
""",
            "s.sh": "",
        },
    )
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    assert info.value.codes == ["script_path_declared"]


def test_script_without_script_plugin(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": """tosca_definitions_version: cloudify_dsl_1_4
node_types:
  T:
    interfaces:
      i: {op: s.sh}
node_templates:
  n: {type: T}
""",
            "s.sh": "",
        },
    )
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    assert info.value.codes == ["script_plugin_missing"]


def test_unknown_plugin_in_mapping():
    issue = one_issue("""
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: nope.tasks.create
    """)
    assert issue.code == "operation_mapping_unresolved"


def test_ambiguous_plugin_mapping():
    issue = one_issue("""
    plugins:
      a: {executor: central_deployment_agent, source: a}
      a.b: {executor: central_deployment_agent, source: b}
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: a.b.c
    """)
    assert issue.code == "ambiguous_operation_mapping"


def test_invalid_executor_and_retries():
    found = issues(
        PLUGIN
        + """
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: {implementation: p.c, executor: somewhere}
            configure: {implementation: p.c, max_retries: {get_input: x}}
            start: {implementation: p.c, max_retries: -2, retry_interval: -1}
    """
    )
    assert [i.code for i in found] == [
        "invalid_executor",
        "invalid_max_retries",
        "invalid_max_retries",
        "invalid_retry_interval",
    ]


def test_unknown_operation_key():
    issue = one_issue(
        PLUGIN
        + """
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: {implementation: p.c, retries: 3}
    """
    )
    assert issue.code == "unknown_key"


def test_has_intrinsic_functions_flag():
    plan = parse(
        PLUGIN
        + """
    node_templates:
      n:
        type: cloudify.nodes.Root
        interfaces:
          cloudify.interfaces.lifecycle:
            create: {implementation: p.c, inputs: {ip: {get_attribute: [SELF, ip]}}}
            configure: {implementation: p.c, inputs: {ip: 1}}
    """
    )
    ops = node(plan, "n")["operations"]
    assert ops["cloudify.interfaces.lifecycle.create"]["has_intrinsic_functions"] is True
    assert ops["configure"]["has_intrinsic_functions"] is False


def test_relationship_operations():
    plan = parse(
        PLUGIN
        + """
    node_templates:
      a: {type: cloudify.nodes.Root}
      b:
        type: cloudify.nodes.Root
        relationships:
          - type: cloudify.relationships.connected_to
            target: a
            source_interfaces:
              cloudify.interfaces.relationship_lifecycle:
                establish: p.link
            target_interfaces:
              cloudify.interfaces.relationship_lifecycle:
                unlink:
                  implementation: p.unlink
                  inputs: {x: {get_attribute: [TARGET, ip]}}
    """
    )
    rel = node(plan, "b")["relationships"][0]
    assert rel["source_operations"]["establish"]["operation"] == "link"
    assert rel["target_operations"]["cloudify.interfaces.relationship_lifecycle.unlink"][
        "has_intrinsic_functions"
    ]
    assert (
        rel["source_interfaces"]["cloudify.interfaces.relationship_lifecycle"]["establish"][
            "implementation"
        ]
        == "p.link"
    )
    assert {p["name"] for p in node(plan, "a")["plugins"]} == {"p"}
