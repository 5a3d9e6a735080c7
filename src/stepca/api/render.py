"""Responses: wire messages (``stepca.messages``) as JSON, and the one place errors become
``{status, message}``."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from stepca.authority.authority import Issued
from stepca.errors import MethodNotAllowed, StepError
from stepca.messages import ErrorResponse, Message, SignResponse

_JSON = "application/json"


def json_response(message: Message, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(message.to_json()), status=status, content_type=_JSON)


def error_response(exc: StepError) -> web.Response:
    response = json_response(ErrorResponse(exc.status, exc.message), status=exc.status)
    if isinstance(exc, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(exc.allow)
    return response


def internal_error() -> web.Response:
    return error_response(StepError())


def issued_body(issued: Issued, tls_options: dict[str, Any] | None) -> SignResponse:
    return SignResponse.issued(issued.pem, issued.chain_pems, tls_options)
