"""`POST /searches/<resource>`: Cloudify 7's filter rules and DSL constraints over the lists
of blueprints, deployments, secrets and workflows, on the real database.

Everything searched lives in a tenant of this module's own, under ids holding a marker that
every search also passes as `_search`, so rows other tests make global never show up.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from manager.db.engine import Database
from tests.api.callers import SMALL_BLUEPRINT, Caller, new_tenant, new_user
from tests.api.uploads import cfy_archive

WORKFLOW_BLUEPRINT = (
    SMALL_BLUEPRINT
    + """
workflows:
  tidy_up: scripts/tidy.py
"""
)


@dataclass
class World:
    admin: Caller
    marker: str

    def id(self, name: str) -> str:
        return f"{self.marker}-{name}"


def _upload(caller: Caller, blueprint_id: str, labels: list[dict[str, str]], text: str) -> None:
    params = {"visibility": "tenant", "application_file_name": "blueprint.yaml", "labels": labels}
    files = {"blueprint.yaml": text}
    if "tidy" in text:
        files["scripts/tidy.py"] = "print('tidy')\n"
    response = caller.put(
        f"/blueprints/{blueprint_id}",
        data={"params": json.dumps(params)},
        files={"blueprint_archive": ("filename", cfy_archive(files), "text/plain")},
    )
    assert response.status_code == 201, response.text


def _deploy(caller: Caller, deployment_id: str, blueprint_id: str, **fields: Any) -> None:
    body = {"blueprint_id": blueprint_id, **fields}
    response = caller.put(f"/deployments/{deployment_id}", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def world(client: TestClient, database: Database, admin_credentials: tuple[str, str]) -> World:
    marker = f"s{uuid.uuid4().hex[:8]}"
    admin = Caller(client, new_tenant(database), admin_credentials)
    w = World(admin, marker)
    _upload(admin, w.id("alpha"), [{"key": "env", "value": "prod"}], SMALL_BLUEPRINT)
    _upload(admin, w.id("beta"), [{"key": "env", "value": "dev"}], WORKFLOW_BLUEPRINT)
    _upload(admin, w.id("gamma"), [], SMALL_BLUEPRINT)
    _deploy(
        admin, w.id("web"), w.id("alpha"),
        labels=[{"env": "prod"}, {"Tier": "Web"}], display_name="Web Front", site_name="paris",
    )  # fmt: skip
    _deploy(admin, w.id("db"), w.id("alpha"), labels=[{"env": "dev"}], display_name="Database")
    _deploy(admin, w.id("cache"), w.id("beta"), display_name="Cache")
    for key in ("db_password", "db_user", "api_token"):
        response = admin.put(f"/secrets/{marker}_{key}", json={"value": "x"})
        assert response.status_code == 200, response.text
    return w


def _search(
    world: World, resource: str, body: Any, caller: Caller | None = None, **params: Any
) -> Response:
    params = {"_search": world.marker, **params}
    return (caller or world.admin).post(f"/searches/{resource}", json=body, params=params)


def _found(world: World, resource: str, rules: list[Any], **params: Any) -> list[str]:
    response = _search(world, resource, {"filter_rules": rules}, **params)
    assert response.status_code == 200, response.text
    key = "key" if resource == "secrets" else "id"
    return [item[key].removeprefix(f"{world.marker}-") for item in response.json()["items"]]


def _rule(key: str, values: list[str], operator: str, rule_type: str = "label") -> dict[str, Any]:
    return {"key": key, "values": values, "operator": operator, "type": rule_type}


# --- label rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (_rule("env", ["prod"], "any_of"), ["web"]),
        (_rule("env", ["prod", "dev"], "any_of"), ["db", "web"]),
        # Cloudify: the key is there with another value.
        (_rule("env", ["prod"], "not_any_of"), ["db"]),
        # ... while `is_not` also takes resources without the key.
        (_rule("env", ["prod"], "is_not"), ["cache", "db"]),
        (_rule("env", [], "is_null"), ["cache"]),
        (_rule("env", [], "is_not_null"), ["db", "web"]),
        # Keys are case-insensitive, values are not.
        (_rule("TIER", ["Web"], "any_of"), ["web"]),
        (_rule("tier", ["web"], "any_of"), []),
    ],
    ids=lambda value: value["operator"] + ":" + value["key"] if isinstance(value, dict) else "",
)
def test_label_rules_on_deployments(
    world: World, rule: dict[str, Any], expected: list[str]
) -> None:
    assert _found(world, "deployments", [rule], _sort="id") == expected


def test_label_rules_on_blueprints(world: World) -> None:
    assert _found(world, "blueprints", [_rule("env", ["dev"], "any_of")]) == ["beta"]
    assert _found(world, "blueprints", [_rule("env", [], "is_null")]) == ["gamma"]


# --- attribute rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (_rule("display_name", ["Database", "Cache"], "any_of", "attribute"), ["cache", "db"]),
        (_rule("display_name", ["Database"], "not_any_of", "attribute"), ["cache", "web"]),
        # Substring matches ignore case, on SQLite and PostgreSQL alike.
        (_rule("display_name", ["FRONT", "base"], "contains", "attribute"), ["db", "web"]),
        (_rule("display_name", ["a"], "not_contains", "attribute"), ["web"]),
        (_rule("display_name", ["web", "cac"], "starts_with", "attribute"), ["cache", "web"]),
        (_rule("display_name", ["BASE"], "ends_with", "attribute"), ["db"]),
        # `%` and `_` are plain characters.
        (_rule("display_name", ["%"], "contains", "attribute"), []),
        (_rule("site_name", [], "is_not_empty", "attribute"), ["web"]),
        (_rule("schedules", [], "is_not_empty", "attribute"), []),
        (_rule("installation_status", ["inactive"], "any_of", "attribute"), ["cache", "db", "web"]),
    ],
    ids=lambda value: value["operator"] + ":" + value["key"] if isinstance(value, dict) else "",
)
def test_attribute_rules_on_deployments(
    world: World, rule: dict[str, Any], expected: list[str]
) -> None:
    assert _found(world, "deployments", [rule], _sort="id") == expected


def test_attributes_of_related_rows(world: World) -> None:
    """blueprint_id, tenant_name and created_by are other tables' columns."""
    by_blueprint = _rule("blueprint_id", [world.id("beta")], "any_of", "attribute")
    assert _found(world, "deployments", [by_blueprint]) == ["cache"]
    tenant = _rule("tenant_name", [world.admin.tenant or ""], "any_of", "attribute")
    assert _found(world, "blueprints", [tenant], _sort="id") == ["alpha", "beta", "gamma"]
    creator = _rule("created_by", ["someone-else"], "any_of", "attribute")
    assert _found(world, "deployments", [creator]) == []
    assert (
        _found(world, "blueprints", [_rule("state", ["uploaded"], "not_any_of", "attribute")]) == []
    )


def test_rules_combine_with_and(world: World) -> None:
    rules = [
        _rule("env", [], "is_not_null"),
        _rule("blueprint_id", [world.id("alpha")], "any_of", "attribute"),
        _rule("display_name", ["data"], "starts_with", "attribute"),
    ]
    assert _found(world, "deployments", rules) == ["db"]


def test_secrets_by_key(world: World) -> None:
    rules = [_rule("key", [f"{world.marker}_db"], "starts_with", "attribute")]
    assert _found(world, "secrets", rules) == [
        f"{world.marker}_db_password",
        f"{world.marker}_db_user",
    ]


def test_workflows_of_matching_deployments(world: World) -> None:
    """Each distinct workflow of the deployments the rules match, once, all on one page."""
    only_cache = {"filter_rules": [_rule("env", [], "is_null")]}
    response = _search(world, "workflows", only_cache)
    assert response.status_code == 200, response.text
    names = [item["name"] for item in response.json()["items"]]
    assert "tidy_up" in names and {"install", "uninstall"} <= set(names)
    assert len(names) == len(set(names))
    assert response.json()["metadata"]["pagination"] == {
        "total": len(names), "size": len(names), "offset": 0,
    }  # fmt: skip
    both = _search(world, "workflows", {"filter_rules": [_rule("env", ["prod"], "is_not")]})
    assert sorted(item["name"] for item in both.json()["items"]) == sorted(names)
    prod = _search(world, "workflows", {"filter_rules": [_rule("env", ["prod"], "any_of")]})
    assert "tidy_up" not in [item["name"] for item in prod.json()["items"]]


# --- the list conventions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"_sort": "-id", "_size": "2", "_offset": "1"},
        {"_include": "id,labels", "_sort": "display_name"},
        {"blueprint_id": "{alpha}", "_sort": "id"},
        {"_search_name": "a", "_sort": "created_at"},
    ],
)
def test_a_search_answers_as_the_list_does(world: World, params: dict[str, str]) -> None:
    """The same query parameters give the same items and pagination as `GET /deployments`,
    plus `filtered`: how many rows the rules hid."""
    params = {k: v.format(alpha=world.id("alpha")) for k, v in params.items()}
    params["_search"] = world.marker
    listed = world.admin.get("/deployments", params=params).json()
    searched = world.admin.post("/searches/deployments", json={"filter_rules": []}, params=params)
    assert searched.status_code == 200, searched.text
    assert searched.json() == {**listed, "metadata": {**listed["metadata"], "filtered": 0}}

    narrowed = world.admin.post(
        "/searches/deployments",
        json={"filter_rules": [_rule("env", ["dev"], "any_of")]},
        params=params,
    ).json()
    kept = [item for item in listed["items"] if item.get("id") in (None, world.id("db"))]
    total = listed["metadata"]["pagination"]["total"]
    assert narrowed["metadata"]["filtered"] == total - narrowed["metadata"]["pagination"]["total"]
    if "_include" in params:
        assert narrowed["items"] == kept


def test_filtered_counts_what_the_rules_hid(world: World) -> None:
    body = {"filter_rules": [_rule("env", ["prod"], "any_of")]}
    metadata = _search(world, "deployments", body, _size="0").json()["metadata"]
    assert metadata == {"pagination": {"total": 1, "size": 0, "offset": 0}, "filtered": 2}


def test_no_rules_no_filtered(world: World) -> None:
    """An empty body (or none) lists like `GET`, without `filtered`."""
    for body in ({}, None):
        response = _search(world, "secrets", body)
        assert response.status_code == 200, response.text
        assert (
            response.json() == world.admin.get("/secrets", params={"_search": world.marker}).json()
        )


def test_unknown_list_parameters_are_refused_as_by_the_list(world: World) -> None:
    response = _search(world, "blueprints", {"filter_rules": []}, colour="red")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Unknown filter `colour`; filter by one of created_at, id, is_hidden, "
        "main_file_name, state, updated_at, visibility"
    )


# --- constraints ------------------------------------------------------------------------------


def test_constraints_become_rules(world: World) -> None:
    def found(resource: str, constraints: dict[str, Any]) -> list[str]:
        response = _search(world, resource, {"constraints": constraints}, _sort="id")
        assert response.status_code == 200, response.text
        key = "key" if resource == "secrets" else "id"
        return [item[key].removeprefix(f"{world.marker}-") for item in response.json()["items"]]

    # A deployment's `name_pattern` is on its display name, a blueprint's on its id.
    assert found(
        "deployments", {"labels": [{"env": "dev"}], "name_pattern": {"contains": "BASE"}}
    ) == ["db"]
    assert found("deployments", {"name_pattern": {"equals_to": "Cache"}}) == ["cache"]
    assert found("deployments", {"valid_values": [world.id("web")]}) == ["web"]
    assert found("blueprints", {"name_pattern": {"ends_with": "ta"}}) == ["beta"]
    assert found("blueprints", {"tenants": [world.admin.tenant]}) == ["alpha", "beta", "gamma"]
    assert found("secrets", {"valid_values": [f"{world.marker}_api_token"]}) == [
        f"{world.marker}_api_token"
    ]


# --- errors -----------------------------------------------------------------------------------


def _rule_error(response: Response, rule: Any, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {
        "message": f"The filter rule {json.dumps(rule)} is not in the right format. {reason}",
        "error_code": "invalid_filter_rule",
        "server_traceback": None,
        "err_filter_rule": rule,
        "err_reason": reason,
    }


BAD_RULES = [
    (
        "deployments",
        _rule("colour", ["red"], "any_of", "attribute"),
        "Unknown attribute `colour`: deployments can be filtered by blueprint_id, created_by, "
        "display_name, id, installation_status, schedules, site_name, tenant_name",
    ),
    (
        "blueprints",
        _rule("display_name", ["x"], "any_of", "attribute"),
        "Unknown attribute `display_name`: blueprints can be filtered by created_by, id, "
        "state, tenant_name",
    ),
    (
        "deployments",
        _rule("env", ["x"], "equals", "label"),
        "Unknown operator `equals` for label rules; use one of any_of, not_any_of, is_not, "
        "is_null, is_not_null",
    ),
    (
        "deployments",
        _rule("site_name", [], "is_null", "attribute"),
        "Unknown operator `is_null` for attribute rules; use one of any_of, not_any_of, "
        "contains, not_contains, starts_with, ends_with, is_not_empty",
    ),
    (
        "deployments",
        _rule("schedules", ["x"], "any_of", "attribute"),
        "Unknown operator `any_of` for the attribute `schedules`; use one of is_not_empty",
    ),
    (
        "deployments",
        _rule("env", ["x"], "any_of", "tag"),
        "Unknown rule type `tag`; use one of label, attribute",
    ),
    ("secrets", _rule("env", ["x"], "any_of"), "Secrets have no labels; filter them by attribute"),
    ("deployments", _rule("env", ["x"], "is_null"), "The operator `is_null` takes no values"),
    ("deployments", _rule("env", [], "any_of"), "The operator `any_of` needs at least one value"),
    ("deployments", _rule("env", ["x", 1], "any_of"), "The values must be a list of strings"),  # type: ignore[list-item]
    ("deployments", _rule("", ["x"], "any_of"), "The key must be a non-empty string"),
    ("deployments", {"key": "env", "values": ["x"]}, "The rule has no `operator`, `type`"),
    (
        "deployments",
        {**_rule("env", ["x"], "any_of"), "negate": True},
        "Unknown entries `negate`",
    ),
    (
        "blueprints",
        "env=prod",
        "A filter rule is an object with `key`, `values`, `operator` and `type`",
    ),
]


@pytest.mark.parametrize(("resource", "rule", "reason"), BAD_RULES, ids=lambda v: str(v)[:40])
def test_a_bad_rule_is_refused_naming_it(
    world: World, resource: str, rule: Any, reason: str
) -> None:
    good = _rule("key", ["x"], "any_of", "attribute") if resource == "secrets" else None
    rules = [good, rule] if good else [rule]
    _rule_error(_search(world, resource, {"filter_rules": rules}), rule, reason)


def test_a_bad_constraint_rule_is_refused_too(world: World) -> None:
    rule = _rule("tenant_name", ["t"], "any_of", "attribute")
    reason = "Unknown attribute `tenant_name`: secrets can be filtered by key"
    _rule_error(_search(world, "secrets", {"constraints": {"tenants": ["t"]}}), rule, reason)


@pytest.mark.parametrize(
    ("body", "params", "status", "code", "message"),
    [
        (
            {"filter_rules": [_rule("env", [], "is_null")], "constraints": {"tenants": ["t"]}},
            {},
            400,
            "bad_parameters_error",
            "Give either `filter_rules` or `constraints`, not both",
        ),
        (
            {"constraints": {"deployment_id": "x", "colour": "red"}},
            {},
            400,
            "bad_parameters_error",
            "Unknown constraint(s) `colour`, `deployment_id`; searches take labels, tenants, "
            "name_pattern, valid_values, filter_id",
        ),
        (
            {"constraints": {"name_pattern": {"matches": "x"}}},
            {},
            400,
            "bad_parameters_error",
            "Unknown `name_pattern` operator `matches`; use one of equals_to, contains, "
            "starts_with, ends_with",
        ),
        (
            {"filter_rules": {"key": "env"}},
            {},
            400,
            "bad_parameters_error",
            "Invalid request: filter_rules: Input should be a valid list",
        ),
        (
            {"filter_rules": []},
            {"_filter_id": "saved"},
            404,
            "not_found_error",
            "Requested `Filter` with ID `saved` was not found",
        ),
        (
            {"constraints": {"filter_id": "saved"}},
            {},
            404,
            "not_found_error",
            "Requested `Filter` with ID `saved` was not found",
        ),
    ],
)
def test_bad_search_bodies(
    world: World,
    body: dict[str, Any],
    params: dict[str, str],
    status: int,
    code: str,
    message: str,
) -> None:
    response = _search(world, "deployments", body, **params)
    assert response.status_code == status, response.text
    assert response.json() == {"message": message, "error_code": code, "server_traceback": None}


# --- tenants ----------------------------------------------------------------------------------


def test_searches_see_only_the_callers_tenants(
    world: World, client: TestClient, database: Database
) -> None:
    """Another tenant's rows never match, with or without `_all_tenants`, unless the caller
    is a member there (or a system administrator)."""
    other = world.admin.in_tenant(new_tenant(database))
    _upload(other, world.id("elsewhere"), [{"key": "env", "value": "prod"}], SMALL_BLUEPRINT)
    prod = [_rule("env", ["prod"], "any_of")]
    member = new_user(client, database, world.admin.tenant, "viewer")

    for caller in (world.admin, member):
        for all_tenants in ("False", "True"):
            found = _search(
                world, "blueprints", {"filter_rules": prod}, caller, _all_tenants=all_tenants
            )
            ids = [item["id"] for item in found.json()["items"]]
            if caller is world.admin and all_tenants == "True":
                assert ids == [world.id("alpha"), world.id("elsewhere")]
            else:
                assert ids == [world.id("alpha")], (caller.auth, all_tenants)
