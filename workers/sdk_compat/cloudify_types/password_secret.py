"""`cloudify.nodes.PasswordSecret`: a generated password kept in a secret. The value is never
logged nor stored anywhere but in the secret: the runtime property `password` is the
`{get_secret: name}` function that reads it."""

from __future__ import annotations

import secrets
import string
from typing import Any

from cloudify.manager import get_rest_client
from cloudify_rest_client.exceptions import CloudifyClientError
from cloudify_types import common

from quarterdeck import ctx, operation
from quarterdeck.exceptions import NonRecoverableError

GROUPS = {
    "uppercase": string.ascii_uppercase,
    "lowercase": string.ascii_lowercase,
    "digits": string.digits,
    "symbols": " " + string.punctuation,
}


def _rules(inputs: dict[str, Any]) -> tuple[int, dict[str, int]]:
    length = int(common.setting("length", inputs, 8))
    minimums = {group: int(common.setting(group, inputs, 0)) for group in GROUPS}
    return length, minimums


@operation(resumable=True)
def creation_validation(**inputs: Any) -> bool:
    """validation.create: the rules can be met (Cloudify's checks and messages)."""
    inputs.pop("ctx", None)
    length, minimums = _rules(inputs)
    if length < 6:
        raise NonRecoverableError("Password length is required to be at least 6 characters")
    if any(value < -1 for value in minimums.values()):
        raise NonRecoverableError(
            "Illegal character group length provided: expecting an integer greater than 0, "
            "or -1 for not using this character group"
        )
    if all(value == -1 for value in minimums.values()):
        raise NonRecoverableError(
            "Could not satisfy password requirements: at least one character group should be used"
        )
    if sum(max(value, 0) for value in minimums.values()) > length:
        raise NonRecoverableError(
            "Could not satisfy password requirements: lengths of required character groups "
            "is larger than the password length"
        )
    return True


# Kept for blueprints written against earlier Quarterdeck types.
validate = creation_validation


def _password(length: int, minimums: dict[str, int]) -> str:
    """A random password with at least each group's minimum, from the groups not excluded
    (-1), shuffled with the system's random source."""
    alphabet = "".join(chars for group, chars in GROUPS.items() if minimums[group] >= 0)
    chosen = [
        secrets.choice(GROUPS[group])
        for group, minimum in minimums.items()
        for _ in range(max(minimum, 0))
    ]
    chosen += [secrets.choice(alphabet) for _ in range(length - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


def _exists(rest: Any, key: str) -> bool:
    return bool(rest.secrets.list(key=key, _include=["key"]))


@operation(resumable=True)
def create(**inputs: Any) -> bool:
    """create: a new secret holding a generated password (or an existing secret, with
    `use_secret_if_exists`)."""
    inputs.pop("ctx", None)
    rest = get_rest_client()
    name = common.setting("secret_name", inputs)
    props = ctx.instance.runtime_properties
    if common.setting("use_secret_if_exists", inputs, False):
        if not name:
            raise NonRecoverableError(
                "Can't enable `use_secret_if_exists` property without providing a secret_name"
            )
        if _exists(rest, name):
            props["secret_name"] = name
            props["password"] = {"get_secret": name}
            ctx.logger.info("Using the existing secret %s", name)
            return True
    if props.get("password"):
        return True  # made by an earlier attempt
    name = name or f"ps_{ctx.deployment.id}_{ctx.instance.id}"
    length, minimums = _rules(inputs)
    try:
        rest.secrets.create(key=name, value=_password(length, minimums))
    except CloudifyClientError as exc:
        raise NonRecoverableError(f"Creating secret {name} failed: {exc}") from None
    props["password"] = {"get_secret": name}
    props["secret_name"] = name
    ctx.logger.info("Created the password secret %s", name)
    return True


@operation(resumable=True)
def delete(**inputs: Any) -> bool:
    """delete: remove the secret this node made."""
    inputs.pop("ctx", None)
    props = ctx.instance.runtime_properties
    name = props.get("secret_name")
    if name:
        try:
            get_rest_client().secrets.delete(name)
            ctx.logger.info("Deleted the password secret %s", name)
        except CloudifyClientError as exc:
            ctx.logger.warning("Secret %s was not deleted: %s", name, exc)
    props.pop("password", None)
    props.pop("secret_name", None)
    return True
