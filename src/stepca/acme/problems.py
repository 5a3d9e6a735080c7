"""ACME errors (RFC 8555 §6.7): one exception carrying the problem document, rendered as
``application/problem+json`` at one edge (``stepca.api.acme``)."""

from __future__ import annotations

import json
from typing import Any

NS = "urn:ietf:params:acme:error:"


class AcmeProblem(Exception):
    """An ACME problem: ``type`` without the namespace (``badNonce``, ``malformed``...)."""

    def __init__(
        self,
        type: str,
        detail: str,
        status: int = 400,
        *,
        subproblems: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.type = type
        self.detail = detail
        self.status = status
        self.subproblems = subproblems or []
        self.headers = headers or {}
        self.extra = extra or {}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": NS + self.type, "detail": self.detail, "status": self.status}
        if self.subproblems:
            doc["subproblems"] = self.subproblems
        doc.update(self.extra)
        return doc

    def stored(self) -> str:
        """The problem as stored with a challenge or order (JSON)."""
        return json.dumps(self.to_json())


def malformed(detail: str) -> AcmeProblem:
    return AcmeProblem("malformed", detail, 400)


def unauthorized(detail: str) -> AcmeProblem:
    return AcmeProblem("unauthorized", detail, 403)


def not_found(detail: str) -> AcmeProblem:
    return AcmeProblem("malformed", detail, 404)
