"""Malformed blueprints of every shape raise BlueprintInvalid, never anything else."""

import pytest

from manager.dsl import BlueprintInvalid

from .conftest import issues

MALFORMED = [
    "node_templates: []\n",
    "node_templates: {a: null}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, relationships: {x: 1}}}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, relationships: [1, [2]]}}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, interfaces: {i: [1]}}}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, interfaces: [1]}}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, properties: x}}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, capabilities: {scalable: 3}}}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, capabilities: [1]}}\n",
    "node_templates: {a: {type: cloudify.nodes.Root, instances: 3}}\n",
    "node_templates: {a: {type: [1]}}\n",
    "node_templates: {1: {type: x}}\n",
    "inputs: [a]\n",
    "inputs: {a: 1}\n",
    "inputs: {a: {constraints: 1}}\n",
    "inputs: {a: {constraints: [1, {pattern: '('}]}}\n",
    "imports: x\n",
    "groups: {g: 1}\n",
    "groups: {g: {members: x, policies: [1]}}\n",
    "groups: {g: {members: [a], policies: {p: {type: 1}}}}\n",
    "policies: {p: {targets: 1}}\n",
    "policies: {p: 1}\n",
    "policies: {p: {type: cloudify.policies.scaling, targets: [g], properties: 3}}\n",
    "workflows: {w: 3}\n",
    "workflows: {w: {mapping: 3}}\n",
    "workflows: {w: {mapping: x.y, parameters: [1]}}\n",
    "outputs: {o: 1}\n",
    "outputs: [1]\n",
    "node_types: {T: {properties: [1]}}\n",
    "node_types: {T: {properties: {p: 1}}}\n",
    "node_types: {T: {interfaces: {i: {op: 3}}}}\n",
    "node_types: {T: {interfaces: {i: {op: {implementation: 3, inputs: 4}}}}}\n",
    "node_types: {T: 3}\n",
    "node_types: {T: {derived_from: [1]}}\n",
    "data_types: {D: {properties: {p: 1}}}\n",
    "data_types: {D: {derived_from: D}}\n",
    "data_types: 3\n",
    "plugins: {p: 1}\n",
    "plugins: {p: {executor: host_agent, source: [1], install: maybe}}\n",
    "labels: {a: 1}\n",
    "labels: {a: {values: x}}\n",
    "description: [1]\n",
    "deployment_settings: [1]\n",
    "relationships: {r: {derived_from: r}}\n",
    "outputs: {o: {value: {get_input: [1, 2]}}}\n",
    "outputs: {o: {value: {get_property: x}}}\n",
    "outputs: {o: {value: {get_attribute: []}}}\n",
    "outputs: {o: {value: {get_input: []}}}\n",
    "outputs: {o: {value: {string_split: x}}}\n",
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_blueprints_give_issues(body):
    found = issues(body)
    assert found
    assert all(i.code and i.message for i in found)


@pytest.mark.parametrize(
    "header",
    [
        "tosca_definitions_version: 3\n",
        "tosca_definitions_version: [cloudify_dsl_1_4]\n",
        "tosca_definitions_version: cloudify_dsl_1_4\nimports: [[1]]\n",
        "tosca_definitions_version: cloudify_dsl_1_4\nimports: [{a: 1, b: 2}]\n",
        "- a list\n",
        "just a string\n",
    ],
)
def test_malformed_headers(header):
    with pytest.raises(BlueprintInvalid):
        from manager.dsl import parse_text

        parse_text(header)
