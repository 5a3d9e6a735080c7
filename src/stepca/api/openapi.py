"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /openapi.json`` (HTTPS only).

The description is written as fragments, one JSON file per route table in ``stepca/api/spec/``
(``x509.json`` for ``routes.ROUTES``, ``ssh.json``, ``revocation.json``, ``common.json`` for the
shared error body, responses and security schemes). Each fragment has ``paths`` written without
the prefix, ``components`` and ``tags``; ``build()`` merges them and lists every path under each
prefix it is mounted at (``/`` and ``/1.0/``, or a fragment's ``x-stepca-prefixes``), the
``/1.0/`` copies with ``operationId``\\s ending in ``_1_0``. A new route table (ACME, admin) is a
new fragment file: nothing else to edit here, and no merge conflict with other tables. A
component or path defined twice is an error, found when the app is built.

``tests/api/test_openapi.py`` keeps it in step with the router: every route the app serves is
described and every described path is served.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from stepca.authority.authority import Authority

OPENAPI_VERSION = "3.1.0"
#: where every route is mounted, as ``routes.build_app`` mounts it
PREFIXES = ("/", "/1.0/")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_INFO_DESCRIPTION = (
    "stepca's HTTP API, wire-compatible with smallstep's step-ca 0.19. Every path is served at `/` "
    "and under `/1.0/`. Errors are `{status, message}` (the Error schema). Tokens travel in the "
    "JSON body as `ott` (sign, revoke, ssh/*), not in a header; /renew and /rekey authenticate "
    "with the TLS client certificate (mTLS), /renew also with an x5c bearer token. Request "
    "bodies are capped at 1 MiB (413). See docs/api.md."
)


class SpecError(ValueError):
    """Two fragments define the same path or component, or a fragment is malformed."""


def fragments() -> list[tuple[str, dict[str, Any]]]:
    """``(file name, document)`` for every ``spec/*.json``, in name order."""
    folder = resources.files("stepca.api").joinpath("spec")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            doc = orjson.loads(entry.read_bytes())
            if not isinstance(doc, dict):
                raise SpecError(f"{entry.name}: not a JSON object")
            out.append((entry.name, doc))
    return out


def _prefixed(path: str, prefix: str) -> str:
    return prefix.rstrip("/") + path


def merge(parts: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One OpenAPI document from the fragments."""
    from stepca import API_COMPAT_VERSION, __version__

    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    tags: dict[str, Any] = {}
    for name, doc in parts:
        prefixes = doc.get("x-stepca-prefixes", PREFIXES)
        for path, item in doc.get("paths", {}).items():
            if not path.startswith("/"):
                raise SpecError(f"{name}: path {path!r} does not start with /")
            for prefix in prefixes:
                full = _prefixed(path, prefix)
                if full in paths:
                    raise SpecError(f"{name}: path {full} is already described")
                copied = copy.deepcopy(item)
                if prefix != "/":
                    suffix = "_" + prefix.strip("/").replace(".", "_").replace("/", "_")
                    for method in _METHODS:
                        if method in copied and "operationId" in copied[method]:
                            copied[method]["operationId"] += suffix
                paths[full] = copied
        for kind, table in doc.get("components", {}).items():
            into = components.setdefault(kind, {})
            for key, value in table.items():
                if key in into:
                    raise SpecError(f"{name}: components.{kind}.{key} is already defined")
                into[key] = value
        for tag in doc.get("tags", []):
            tags.setdefault(tag["name"], tag)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "stepca",
            "version": __version__,
            "description": _INFO_DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            "x-step-ca-api-version": API_COMPAT_VERSION,
        },
        "tags": list(tags.values()),
        "paths": dict(sorted(paths.items())),
        "components": {kind: dict(sorted(table.items())) for kind, table in sorted(components.items())},
    }


def build() -> dict[str, Any]:
    """The whole description (a fresh copy)."""
    return merge(fragments())


@functools.cache
def document() -> bytes:
    """The served bytes, built once per process."""
    return orjson.dumps(build())


async def openapi_json(request: web.Request, ca: Authority, fields: dict[str, Any]) -> web.Response:
    return web.Response(body=document(), content_type="application/json")
