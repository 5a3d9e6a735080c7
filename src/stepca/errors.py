"""One transport-neutral error hierarchy.

The core raises these; the HTTP edge maps them to ``{"status": N, "message": "..."}`` (or an ACME
problem document) and the CLI prints ``message`` on one line and exits non-zero. Anything that is
not a ``StepError`` becomes a generic 500 at the edge, so internals never leak.
"""

from __future__ import annotations


class StepError(Exception):
    """Base class: ``status`` is the HTTP status, ``message`` what a user sees."""

    status = 500
    prefix = "The certificate authority encountered an Internal Server Error"

    def __init__(self, detail: str = "", *, log_detail: str | None = None) -> None:
        super().__init__(detail or self.prefix)
        self.detail = detail
        #: extra context for the server log only (never sent to the client)
        self.log_detail = log_detail

    @property
    def message(self) -> str:
        """What the client sees: smallstep's sentence for the status, then the detail."""
        if not self.detail:
            return self.prefix + "."
        end = "" if self.detail.endswith((".", "!", "?")) else "."
        return f"{self.prefix}: {self.detail}{end}"

    def __str__(self) -> str:
        return self.detail or self.prefix


class BadRequest(StepError):
    status = 400
    prefix = "The request could not be completed"


class Unauthorized(StepError):
    status = 401
    prefix = "The request lacked necessary authorization to be completed"


class Forbidden(StepError):
    status = 403
    prefix = "The request was forbidden by the certificate authority"


class NotFound(StepError):
    status = 404
    prefix = "The requested resource could not be found"


class MethodNotAllowed(StepError):
    """The path is served, not for this method; ``allow`` goes in the ``Allow`` header."""

    status = 405
    prefix = "The request method is not allowed"

    def __init__(
        self, detail: str = "", *, allow: tuple[str, ...] = (), log_detail: str | None = None
    ) -> None:
        super().__init__(detail, log_detail=log_detail)
        self.allow = allow


class Conflict(StepError):
    status = 409
    prefix = "The request conflicts with the current state of the certificate authority"


class PayloadTooLarge(StepError):
    status = 413
    prefix = "The request body is too large"


class InternalError(StepError):
    status = 500


class NotImplementedByCA(StepError):
    status = 501
    prefix = "The requested method is not implemented by the certificate authority"


class ServiceUnavailable(StepError):
    status = 503
    prefix = "The certificate authority is temporarily unavailable"


class ConfigError(Exception):
    """A configuration file is missing, unreadable or invalid. The message names file and field."""


class UserError(Exception):
    """A CLI-level error: printed as one line, exit status 1."""
