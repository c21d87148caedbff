"""YAML loading: positions, anchors, merge keys and the limits."""

from manager.dsl import loader
from manager.dsl.issues import Issues
from manager.dsl.loader import YDict, YList, load_yaml

from .conftest import issues, one_issue


def test_positions_of_keys_and_values():
    doc = load_yaml("a: 1\nb:\n  c: [x, y]\n", "f.yaml", Issues())
    assert isinstance(doc, YDict)
    assert doc.key_pos("b").line == 2 and doc.key_pos("b").column == 1
    assert doc["b"].value_pos("c").line == 3 and doc["b"].value_pos("c").column == 6
    assert isinstance(doc["b"]["c"], YList)
    assert doc["b"]["c"].item_pos(1).column == 10
    assert doc.key_pos("a").file == "f.yaml"


def test_anchors_and_merge_keys():
    doc = load_yaml("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n", "f.yaml", Issues())
    assert doc["derived"] == {"x": 1, "y": 3}


def test_yaml_11_booleans():
    doc = load_yaml("a: yes\nb: off\n", "f.yaml", Issues())
    assert doc == {"a": True, "b": False}


def test_syntax_error_becomes_issue_with_line():
    found = issues("node_templates:\n  a: [1\n  b: 2\n")
    assert found[0].code == "yaml_syntax_error"
    assert found[0].line == 5
    assert found[0].file == "blueprint.yaml"
    assert found[0].message.startswith("invalid YAML:")


def test_alias_bomb_is_refused():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        prev, cur = chr(96 + n), chr(97 + n)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    found = Issues()
    assert load_yaml("\n".join(lines), "bomb.yaml", found) is None
    assert found.items[0].code == "yaml_too_large"


def test_deep_nesting_is_refused():
    text = "a: " + "[" * (loader.MAX_DEPTH + 5) + "]" * (loader.MAX_DEPTH + 5)
    found = Issues()
    assert load_yaml(text, "deep.yaml", found) is None
    assert found.items[0].code == "yaml_too_deep"


def test_file_size_limit(monkeypatch):
    monkeypatch.setattr(loader, "MAX_YAML_BYTES", 10)
    found = Issues()
    assert load_yaml("a: 12345678901234", "big.yaml", found) is None
    assert found.items[0].code == "yaml_too_large"


def test_blueprint_must_be_a_mapping():
    issue = one_issue("", header="- a\n- b\n")
    assert issue.code == "invalid_blueprint"


def test_issue_str_format():
    issue = one_issue("node_templates:\n  vm:\n    type: nope\n")
    assert str(issue) == (
        "blueprint.yaml:5:11: Could not locate node type: 'nope' (node template 'vm')"
    )


def test_recursive_alias_is_refused():
    found = Issues()
    assert load_yaml("a: &x [1, *x]\n", "r.yaml", found) is None
    assert found.items[0].code == "yaml_recursive_alias"


def test_timestamps_stay_strings():
    assert load_yaml("d: 2024-01-02\n", "f.yaml", Issues()) == {"d": "2024-01-02"}


def test_python_tags_are_refused():
    found = Issues()
    assert load_yaml("a: !!python/object/apply:os.system [ls]\n", "f.yaml", found) is None
    assert found.items[0].code == "yaml_syntax_error"


def test_missing_main_file(tmp_path):
    import pytest

    from manager.dsl import BlueprintInvalid, parse_blueprint

    with pytest.raises(BlueprintInvalid) as info:
        parse_blueprint(tmp_path, "nope.yaml")
    assert info.value.codes == ["main_file_not_found"]


# PyYAML's C (libyaml) and pure-Python scanners disagree on a few inputs; cloudify uses the
# pure-Python one, so its verdict is the one to give.


def test_colon_ending_a_plain_scalar_in_a_flow_sequence_is_accepted():
    doc = load_yaml("v: {concat: [http://host:, 80]}\n", "f.yaml", Issues())
    # libyaml refuses it; the Python scanner reads a one-pair mapping, as cloudify gets it
    assert doc == {"v": {"concat": [{"http://host": None}, 80]}}


def test_tab_after_a_value_is_refused_as_cloudify_does():
    found = Issues()
    assert load_yaml("a: b\t\nc: d\n", "f.yaml", found) is None
    (issue,) = found.items
    assert issue.code == "yaml_syntax_error"
    assert "found character '\\t' that cannot start any token" in issue.message
    assert (issue.line, issue.column) == (1, 5)


def test_tab_inside_a_quoted_string_is_kept():
    assert load_yaml('a: "x\ty"\n', "f.yaml", Issues()) == {"a": "x\ty"}


def test_block_scalar_header_followed_by_a_hash_is_refused():
    found = Issues()
    assert load_yaml("a: >#\n  text\n", "f.yaml", found) is None
    assert [i.code for i in found.items] == ["yaml_syntax_error"]


def test_error_refused_by_both_scanners_is_reported_once():
    found = Issues()
    assert load_yaml("a: [1\nb: 2\n", "f.yaml", found) is None
    assert [i.code for i in found.items] == ["yaml_syntax_error"]
