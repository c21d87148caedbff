"""Imports (§4): local files, standard types, plugins, namespaces and merge rules."""

import pytest

from manager.dsl import BlueprintInvalid, ResolvedImport, parse_blueprint, parse_text

from .conftest import node, parse_tree, write_tree

V14 = "tosca_definitions_version: cloudify_dsl_1_4\n"


class Plugins:
    """An ImportResolver serving plugin YAMLs from a dict, recording what was asked."""

    def __init__(self, yamls=None, urls=None):
        self.yamls = yamls or {}
        self.urls = urls or {}
        self.asked = []

    def plugin_yaml(self, name, query, dsl_version):
        self.asked.append((name, query, dsl_version))
        text = self.yamls.get(name)
        return ResolvedImport(text, f"plugin:{name}") if text else None

    def url_yaml(self, url):
        text = self.urls.get(url)
        return ResolvedImport(text, url) if text else None

    def blueprint_yaml(self, blueprint_id):
        return None


PLUGIN_YAML = """
plugins:
  ansible:
    executor: central_deployment_agent
    package_name: cloudify-ansible-plugin
node_types:
  cloudify.nodes.ansible.Playbook:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: ansible.cloudify_ansible.tasks.run
"""


@pytest.mark.parametrize(
    "url",
    [
        "cloudify/types/types.yaml",
        "http://www.getcloudify.org/spec/cloudify/4.5/types.yaml",
        "https://cloudify.co/spec/cloudify/6.4.0/types.yaml",
        "http://getcloudify.org/spec/cloudify/3.4/types.yaml",
    ],
)
def test_standard_types_served_locally(url):
    plan = parse_text(
        V14 + f"imports: [{url}]\nnode_templates:\n  vm: {{type: cloudify.nodes.Compute}}\n"
    )
    assert node(plan, "vm")["type_hierarchy"] == ["cloudify.nodes.Root", "cloudify.nodes.Compute"]


def test_types_variant_follows_main_version():
    def params(version):
        plan = parse_text(
            f"tosca_definitions_version: cloudify_dsl_{version}\n"
            "imports: [cloudify/types/types.yaml]\n"
        )
        return plan["workflows"]

    assert "recursive" in params("1_5")["uninstall"]["parameters"]
    assert "recursive" not in params("1_4")["uninstall"]["parameters"]
    assert params("1_3")["check_status"]["is_cascading"] is True
    assert params("1_3")["install"]["availability_rules"] is None
    assert params("1_5")["execute_operation"]["parameters"]["operation"] == {
        "type": "operation_name"
    }


def test_relative_import_and_nested_import(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14 + "imports: [cloudify/types/types.yaml, inc/a.yaml]\n"
            "node_templates:\n  n: {type: my.B}\n",
            "inc/a.yaml": "imports: [b.yaml]\nnode_types:\n  my.A: {derived_from: "
            "cloudify.nodes.Root}\n",
            "inc/b.yaml": "node_types:\n  my.B: {derived_from: my.A}\n",
        },
    )
    assert node(plan, "n")["type_hierarchy"][-2:] == ["my.A", "my.B"]


def test_versioned_variant_preferred(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14 + "imports: [lib.yaml]\n",
            "lib.yaml": "description: plain\n",
            "lib_1_4.yaml": "description: versioned\n",
        },
    )
    assert plan["description"] == "versioned"


def test_import_escaping_root_is_refused(tmp_path):
    (tmp_path / "outside.yaml").write_text("description: x\n")
    root = tmp_path / "bp"
    write_tree(root, {"blueprint.yaml": V14 + "imports: [../outside.yaml]\n"})
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(root, "blueprint.yaml")
    assert info.value.codes == ["import_escapes_root"]
    assert "points outside the blueprint directory" in info.value.issues[0].message


def test_absolute_import_is_refused(tmp_path):
    write_tree(tmp_path, {"blueprint.yaml": V14 + "imports: [/etc/passwd]\n"})
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    assert info.value.codes == ["import_escapes_root"]


def test_missing_import_reports_line(tmp_path):
    write_tree(tmp_path, {"blueprint.yaml": V14 + "imports:\n  - nothere.yaml\n"})
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    issue = info.value.issues[0]
    assert issue.code == "import_not_found"
    assert (issue.line, issue.column) == (3, 5)
    assert "'nothere.yaml' was not found" in issue.message


def test_cyclic_and_self_imports_are_deduplicated(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14 + "imports: [a.yaml, blueprint.yaml]\n",
            "a.yaml": "imports: [blueprint.yaml, a.yaml]\ndescription: from a\n",
        },
    )
    assert plan["description"] == "from a"


def test_duplicate_import_entry():
    with pytest.raises(BlueprintInvalid) as info:
        parse_text(V14 + "imports: [cloudify/types/types.yaml, cloudify/types/types.yaml]\n")
    assert info.value.codes == ["duplicate_import"]


def test_import_with_higher_version(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": "tosca_definitions_version: cloudify_dsl_1_3\nimports: [a.yaml]\n",
            "a.yaml": V14,
        },
    )
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    assert info.value.codes == ["import_version_higher"]


def test_plugin_import_through_resolver():
    resolver = Plugins({"cloudify-ansible-plugin": PLUGIN_YAML})
    plan = parse_text(
        V14 + "imports:\n  - cloudify/types/types.yaml\n"
        "  - plugin:cloudify-ansible-plugin?version= >=2.0\n"
        "node_templates:\n  p: {type: cloudify.nodes.ansible.Playbook}\n",
        resolver=resolver,
    )
    assert resolver.asked == [("cloudify-ansible-plugin", {"version": " >=2.0"}, (1, 4))]
    op = node(plan, "p")["operations"]["cloudify.interfaces.lifecycle.create"]
    assert (op["plugin"], op["operation"]) == ("ansible", "cloudify_ansible.tasks.run")
    assert [p["name"] for p in plan["deployment_plugins_to_install"]] == ["ansible"]


def test_plugin_url_maps_to_uploaded_plugin():
    resolver = Plugins({"cloudify-ansible-plugin": PLUGIN_YAML})
    parse_text(
        V14 + "imports: [cloudify/types/types.yaml, "
        "'http://www.getcloudify.org/spec/ansible-plugin/2.0/plugin.yaml']\n",
        resolver=resolver,
    )
    assert resolver.asked[0][0] == "cloudify-ansible-plugin"


def test_unknown_plugin_import():
    with pytest.raises(BlueprintInvalid) as info:
        parse_text(V14 + "imports: ['plugin:nope']\n", resolver=Plugins())
    assert info.value.codes == ["plugin_not_found"]
    assert "plugin 'nope' is not uploaded" in info.value.issues[0].message


def test_plugin_import_properties_need_1_5():
    resolver = Plugins(
        {"p": "plugins:\n  p: {executor: central_deployment_agent, package_name: p}\n"}
    )
    with pytest.raises(BlueprintInvalid) as info:
        parse_text(V14 + "imports:\n  - plugin:p: {region: eu}\n", resolver=resolver)
    assert info.value.codes == ["feature_version"]
    plan = parse_text(
        "tosca_definitions_version: cloudify_dsl_1_5\nimports:\n  - plugin:p: {region: eu}\n",
        resolver=resolver,
    )
    assert plan["deployment_plugins_to_install"] == []


def test_url_import_needs_resolver():
    with pytest.raises(BlueprintInvalid) as info:
        parse_text(V14 + "imports: ['https://example.com/x.yaml']\n")
    assert info.value.codes == ["import_not_found"]
    resolver = Plugins(urls={"https://example.com/x.yaml": "description: remote\n"})
    plan = parse_text(V14 + "imports: ['https://example.com/x.yaml']\n", resolver=resolver)
    assert plan["description"] == "remote"


def test_namespaced_import(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14
            + """imports:
  - cloudify/types/types.yaml
  - lib--lib.yaml
node_templates:
  app:
    type: lib--my.Type
    relationships:
      - {type: cloudify.relationships.connected_to, target: lib--server}
""",
            "lib.yaml": """imports: [cloudify/types/types.yaml]
inputs:
  lib_input: {default: 5}
node_types:
  my.Type:
    derived_from: cloudify.nodes.Root
    properties:
      size: {default: {get_input: lib_input}}
node_templates:
  server:
    type: my.Type
    properties:
      size: {get_input: lib_input}
""",
        },
    )
    assert "lib--lib_input" in plan["inputs"]
    server = node(plan, "lib--server")
    assert server["type"] == "lib--my.Type"
    assert server["properties"]["size"] == {"get_input": "lib--lib_input"}
    assert server["type_hierarchy"] == ["cloudify.nodes.Root", "lib--my.Type"]
    assert node(plan, "app")["relationships"][0]["target_id"] == "lib--server"


def test_nested_namespaces_compose(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14 + "imports: [cloudify/types/types.yaml, a--a.yaml]\n",
            "a.yaml": "imports: [b--b.yaml]\nnode_templates:\n  x: {type: b--T}\n",
            "b.yaml": "node_types:\n  T: {derived_from: cloudify.nodes.Root}\n",
        },
    )
    assert node(plan, "a--x")["type"] == "a--b--T"


def test_relationship_only_extension_of_imported_template(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14
            + """imports: [cloudify/types/types.yaml, lib--lib.yaml]
node_templates:
  db: {type: cloudify.nodes.Database}
  lib--server:
    relationships:
      - {type: cloudify.relationships.connected_to, target: db}
""",
            "lib.yaml": "node_templates:\n  server: {type: cloudify.nodes.Root}\n",
        },
    )
    assert [r["target_id"] for r in node(plan, "lib--server")["relationships"]] == ["db"]


def test_duplicate_node_type_across_files(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": V14 + "imports: [a.yaml]\nnode_types:\n  T: {}\n",
            "a.yaml": "node_types:\n  T: {}\n",
        },
    )
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    assert info.value.codes == ["duplicate_definition"]
    assert info.value.issues[0].message == ("Could not merge 'node_types' due to conflict on 'T'")
    assert info.value.issues[0].file == "a.yaml"


def test_duplicate_workflow_first_wins(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14 + "imports: [cloudify/types/types.yaml, a.yaml]\n"
            "workflows:\n  install: scripts/mine.sh\n",
            "a.yaml": "workflows:\n  other: scripts/mine.sh\n",
            "scripts/mine.sh": "echo\n",
        },
        main="blueprint.yaml",
    )
    assert plan["workflows"]["install"]["operation"] == "script_runner.tasks.execute_workflow"


def test_inputs_in_two_files_need_1_3(tmp_path):
    write_tree(
        tmp_path,
        {
            "blueprint.yaml": "tosca_definitions_version: cloudify_dsl_1_2\nimports: [a.yaml]\n"
            "inputs:\n  x: {}\n",
            "a.yaml": "inputs:\n  y: {}\n",
        },
    )
    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "blueprint.yaml")
    assert info.value.codes == ["import_section_not_mergeable"]
    assert info.value.issues[0].message == (
        "'inputs' can be imported multiple times only from cloudify_dsl_1_3"
    )


def test_groups_in_imported_file_accepted(tmp_path):
    plan = parse_tree(
        tmp_path,
        {
            "blueprint.yaml": V14 + "imports: [cloudify/types/types.yaml, a.yaml]\n"
            "node_templates:\n  vm: {type: cloudify.nodes.Compute}\n",
            "a.yaml": "groups:\n  g: {members: [vm]}\n",
        },
    )
    assert plan["groups"]["g"]["members"] == ["vm"]


class Blueprints(Plugins):
    def __init__(self, blueprints):
        super().__init__()
        self.blueprints = blueprints

    def blueprint_yaml(self, blueprint_id):
        text = self.blueprints.get(blueprint_id)
        return ResolvedImport(text, f"blueprint:{blueprint_id}") if text else None


def test_blueprint_import_needs_namespace_and_maps_it():
    resolver = Blueprints(
        {
            "infra": V14 + "imports: [cloudify/types/types.yaml]\n"
            "node_templates:\n  net: {type: cloudify.nodes.Network}\n"
            "  vm:\n    type: cloudify.nodes.Compute\n"
            "    interfaces:\n      cloudify.interfaces.lifecycle:\n"
            "        configure: scripts/setup.sh\n"
        }
    )
    plan = parse_text(
        V14 + "imports: [cloudify/types/types.yaml, 'i--blueprint:infra']\n", resolver=resolver
    )
    assert plan["namespaces_mapping"] == {"i": "infra"}
    assert plan["imported_blueprints"] == ["infra"]
    vm = node(plan, "i--vm")
    op = vm["operations"]["cloudify.interfaces.lifecycle.configure"]
    assert op["inputs"]["script_path"] == "i--scripts/setup.sh"
    with pytest.raises(BlueprintInvalid) as info:
        parse_text(V14 + "imports: ['blueprint:infra']\n", resolver=resolver)
    assert info.value.codes == ["blueprint_import_without_namespace"]
