"""Searches by filter rules and constraints through cloudify-common 7.0.5's REST client.

Usage: python rest_client_searches.py REQUEST.json  (keys: port, password, blueprint_dir,
marker). Every resource it makes is named or labelled with `marker`, so the searches see
only them in a tenant other tests share. Prints one JSON object: what each call saw.
Imports only what the CLI venv has (never the project's modules).
"""

from __future__ import annotations

import json
import warnings

warnings.simplefilter("ignore")

from cloudify_rest_client.exceptions import CloudifyClientError, InvalidFilterRule  # noqa: E402
from rest_client_common import client_and_request  # noqa: E402


def rule(key: str, values: list[str], operator: str, rule_type: str) -> dict:
    return {"key": key, "values": values, "operator": operator, "type": rule_type}


def main() -> None:
    client, request = client_and_request()
    marker = request["marker"]
    team = rule("team", [marker], "any_of", "label")
    seen: dict = {}

    client.blueprints.upload(
        request["blueprint_dir"] + "/blueprint.yaml", f"{marker}-bp", labels=[{"team": marker}]
    )
    client.deployments.create(
        f"{marker}-bp", f"{marker}-prod", labels=[{"env": "prod"}, {"team": marker}]
    )
    client.deployments.create(
        f"{marker}-bp", f"{marker}-dev", labels=[{"env": "dev"}, {"team": marker}]
    )
    client.secrets.create(f"{marker}_key", "value")

    blueprints = client.blueprints.list(filter_rules=[team], _include=["id", "labels"])
    seen["blueprints"] = [b.id for b in blueprints]
    seen["blueprint_labels"] = [(label.key, label.value) for label in blueprints[0].labels]

    prod = client.deployments.list(
        filter_rules=[team, rule("env", ["prod"], "any_of", "label")], _include=["id"]
    )
    seen["prod"] = [d.id for d in prod]
    seen["prod_metadata"] = dict(prod.metadata)
    not_prod = client.deployments.list(
        filter_rules=[team, rule("env", ["prod"], "is_not", "label")],
        sort="id",
        is_descending=True,
    )
    seen["not_prod"] = [d.id for d in not_prod]
    by_attribute = client.deployments.list(
        filter_rules=[rule("blueprint_id", [f"{marker}-bp"], "any_of", "attribute")],
        sort="id",
        _size=1,
        _offset=1,
    )
    seen["by_attribute_page"] = [d.id for d in by_attribute]
    seen["by_attribute_pagination"] = dict(by_attribute.metadata.pagination)
    constrained = client.deployments.list(
        constraints={"labels": [{"team": marker}], "name_pattern": {"ends_with": "-dev"}}
    )
    seen["constrained"] = [d.id for d in constrained]

    secrets = client.secrets.list(filter_rules=[rule("key", [marker], "starts_with", "attribute")])
    seen["secrets"] = [s.key for s in secrets]
    workflows = client.workflows.list(filter_rules=[team])
    seen["workflows"] = sorted(w.name for w in workflows)

    try:
        client.deployments.list(filter_rules=[rule("colour", ["red"], "any_of", "attribute")])
        seen["bad_rule"] = None
    except InvalidFilterRule as exc:
        seen["bad_rule"] = {
            "status": exc.status_code,
            "err_filter_rule": exc.err_filter_rule,
            "err_reason": exc.err_reason,
        }
    except CloudifyClientError as exc:
        seen["bad_rule"] = {"class": type(exc).__name__, "message": str(exc)}

    client.license.check()
    seen["cluster_initialized"] = client._client.get("/cluster")["initialized"]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
