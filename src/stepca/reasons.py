"""RFC 5280 revocation reasons: the one table the CLI flag, the API bodies and the authority share.

Light on purpose (no cryptography, no pydantic): ``step ca revoke`` imports it to read
``--reasonCode`` and the server to check ``reasonCode`` in ``/revoke`` and ``/ssh/revoke``.
"""

from __future__ import annotations

from enum import IntEnum

from stepca.errors import BadRequest


class Reason(IntEnum):
    """RFC 5280 ``CRLReason`` (section 5.3.1). Value 7 is unused by the RFC and refused here."""

    UNSPECIFIED = 0
    KEY_COMPROMISE = 1
    CA_COMPROMISE = 2
    AFFILIATION_CHANGED = 3
    SUPERSEDED = 4
    CESSATION_OF_OPERATION = 5
    CERTIFICATE_HOLD = 6
    REMOVE_FROM_CRL = 8
    PRIVILEGE_WITHDRAWN = 9
    AA_COMPROMISE = 10

    @property
    def rfc_name(self) -> str:
        """The RFC's spelling, as ``--reasonCode`` takes it: ``keyCompromise``, ``cACompromise``."""
        return _RFC_NAMES[self]


_RFC_NAMES = {
    Reason.UNSPECIFIED: "unspecified",
    Reason.KEY_COMPROMISE: "keyCompromise",
    Reason.CA_COMPROMISE: "cACompromise",
    Reason.AFFILIATION_CHANGED: "affiliationChanged",
    Reason.SUPERSEDED: "superseded",
    Reason.CESSATION_OF_OPERATION: "cessationOfOperation",
    Reason.CERTIFICATE_HOLD: "certificateHold",
    Reason.REMOVE_FROM_CRL: "removeFromCRL",
    Reason.PRIVILEGE_WITHDRAWN: "privilegeWithdrawn",
    Reason.AA_COMPROMISE: "aACompromise",
}

#: the codes a revocation may carry
REASON_CODES = frozenset(int(r) for r in Reason)

#: the range smallstep checks (``ocsp.Unspecified`` .. ``ocsp.AACompromise``)
_LOWEST, _HIGHEST = min(REASON_CODES), max(REASON_CODES)


def _folded(name: str) -> str:
    return name.replace("-", "").replace("_", "").replace(" ", "").lower()


_BY_FOLDED_NAME = {_folded(name): reason for reason, name in _RFC_NAMES.items()}


def check_reason_code(value: object) -> Reason:
    """The ``reasonCode`` of a revoke body (``null`` or absent: unspecified), or ``BadRequest``.

    Out of smallstep's range → its sentence ``reasonCode out of bounds``; 7, inside the range but
    unused by RFC 5280, is named as such.
    """
    if value is None:
        return Reason.UNSPECIFIED
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest("reasonCode must be an integer")
    if not _LOWEST <= value <= _HIGHEST:
        raise BadRequest("reasonCode out of bounds")
    if value not in REASON_CODES:
        raise BadRequest(f"reasonCode {value} is not a valid RFC 5280 CRLReason")
    return Reason(value)


def reason_from_flag(text: str | None) -> Reason:
    """``--reasonCode``: a number or an RFC 5280 name in any case, ``-``/``_`` ignored.

    Raises ``ValueError`` with the one-line message the CLI prints.
    """
    if text is None or not text.strip():
        return Reason.UNSPECIFIED
    text = text.strip()
    if text.isdigit():
        code = int(text)
        if code not in REASON_CODES:
            raise ValueError(f"flag --reasonCode: {code} is not an RFC 5280 reason code (0-6, 8-10)")
        return Reason(code)
    reason = _BY_FOLDED_NAME.get(_folded(text))
    if reason is None:
        raise ValueError(f"flag --reasonCode: unknown reason {text!r}")
    return reason


__all__ = ["REASON_CODES", "Reason", "check_reason_code", "reason_from_flag"]
