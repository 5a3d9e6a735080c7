"""Responses: JSON bodies as smallstep's, and the one place errors become ``{status, message}``."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from stepca.authority.authority import Issued
from stepca.errors import StepError

_JSON = "application/json"


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=_JSON)


def error_response(exc: StepError) -> web.Response:
    return json_response({"status": exc.status, "message": exc.message}, status=exc.status)


def internal_error() -> web.Response:
    return error_response(StepError())


def issued_body(issued: Issued, tls_options: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "crt": issued.pem,
        "ca": issued.chain_pems[0],
        "certChain": [issued.pem, *issued.chain_pems],
    }
    if tls_options is not None:
        body["tlsOptions"] = tls_options
    return body
