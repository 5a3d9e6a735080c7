"""What the core may know of the request it serves, without knowing HTTP: the client's address,
set by the HTTP edge (``api.handlers.endpoint``) for the task that handles the request and read
by the audit log (``authority.services.Services.audit``)."""

from __future__ import annotations

from contextvars import ContextVar

#: the client's address ("" outside a request: a job, a test, the CLI)
remote_address: ContextVar[str] = ContextVar("stepca_remote_address", default="")

__all__ = ["remote_address"]
