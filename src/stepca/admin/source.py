"""Where the registry's provisioners come from: ca.json, or (``authority.enableAdmin``) the
database. A database set is applied to the loaded ca.json by replacing its
``authority.provisioners`` and parsing it again, so a provisioner from the database is checked by
exactly the rules a ca.json one is (the same models, the same registry)."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stepca.config import parse_ca_config
from stepca.errors import BadRequest, ConfigError

if TYPE_CHECKING:
    from stepca.db.records import AdminState
    from stepca.server.loader import Loaded

_FIELD = re.compile(r"^[^:]*: authority\.provisioners\.(\d+)\.?([^:]*): (.*)$", re.S)


def enabled(loaded: Loaded) -> bool:
    return bool((loaded.raw.get("authority") or {}).get("enableAdmin"))


def documents(state: AdminState) -> list[dict[str, Any]]:
    return [json.loads(p.document) for p in state.provisioners]


def with_provisioners(loaded: Loaded, docs: list[dict[str, Any]]) -> Loaded:
    """``loaded`` with ``docs`` as its provisioners; ``ConfigError`` names the field."""
    raw = copy.copy(loaded.raw)
    authority = dict(raw.get("authority") or {})
    authority["provisioners"] = docs
    raw["authority"] = authority
    config = parse_ca_config(raw, "provisioners")
    return replace(loaded, raw=raw, config=config)


def check(loaded: Loaded, docs: list[dict[str, Any]], changed: str) -> None:
    """Refuse (400, naming the field) a set the registry could not load: a field a model refuses,
    a key that cannot be parsed, two provisioners sharing a name, a key or a client id."""
    names = [str(d.get("name", "")) for d in docs]
    if len(set(names)) != len(names):
        raise BadRequest(f"name: a provisioner named {changed!r} already exists")
    try:
        candidate = with_provisioners(loaded, docs)
    except ConfigError as exc:
        m = _FIELD.match(str(exc))
        if m is None:
            raise BadRequest(str(exc)) from None
        index, field, why = int(m.group(1)), m.group(2), m.group(3)
        raise BadRequest(f"{field or 'provisioner'}: {why} (provisioner {names[index]!r})") from None
    from stepca.authority.claims import EffectiveClaims
    from stepca.provisioner.registry import ProvisionerRegistry

    authority = candidate.config.authority
    try:
        claims = EffectiveClaims().merged(authority.claims)
        if authority.disable_issued_at_check:
            claims = replace(claims, disable_issued_at_check=True)
        # the registry a worker builds from this set: keys parsed, claims consistent, templates
        # read, names + kids + client ids unique
        ProvisionerRegistry(authority.provisioners, docs, claims, base=candidate.step_path)
    except (ValueError, ConfigError) as exc:
        raise BadRequest(str(exc)) from None
