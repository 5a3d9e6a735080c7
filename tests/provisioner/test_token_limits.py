"""Tokens and requested times a CA must refuse at parse, before they can reach the database or
overflow a datetime: out-of-range NumericDates, a ``crit`` header (RFC 7515 §4.1.11), durations
that cannot be represented, and validity far in the past."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from stepca.errors import Unauthorized
from stepca.provisioner.base import ParsedToken
from tests.helpers import CAProcess
from tests.tokens import csr_for, signer_for

BAD_TIMES = [2**63, 2**64, -1, 10**12, 1.5e300, "1700000000", True, None, [1]]


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", BAD_TIMES, ids=repr)
def test_out_of_range_numeric_dates_are_refused_at_parse(
    session_ca: CAProcess, claim: str, value: object
) -> None:
    tok = signer_for(session_ca.pki).token(**{claim: value})
    with pytest.raises(Unauthorized, match=f"claim {claim} is not a valid NumericDate"):
        ParsedToken.parse(tok)


@pytest.mark.parametrize("crit", [["exp"], ["b64"], [], "exp", None])
def test_a_crit_header_is_refused(session_ca: CAProcess, crit: object) -> None:
    signer = signer_for(session_ca.pki)
    tok = signer.token(header={"crit": crit})
    with pytest.raises(Unauthorized, match="crit"):
        ParsedToken.parse(tok)
    csr, _ = csr_for("svc.example.com")
    status, body = session_ca.request("POST", "/1.0/sign", {"csr": csr, "ott": tok})
    assert status == 401 and "crit" in body["message"], body


def test_a_huge_exp_fails_alone_among_concurrent_valid_requests(session_ca: CAProcess) -> None:
    signer = signer_for(session_ca.pki)
    csr, _ = csr_for("svc.example.com")
    bodies = [{"csr": csr, "ott": signer.token()} for _ in range(30)]
    bad = [{"csr": csr, "ott": signer.token(exp=2**63 + i)} for i in range(5)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda b: session_ca.request("POST", "/1.0/sign", b), bad + bodies))
    assert [s for s, _ in results[:5]] == [401] * 5, results[:5]
    assert [s for s, _ in results[5:]] == [201] * 30, [r for r in results[5:] if r[0] != 201]


@pytest.mark.parametrize(
    ("field", "value", "status", "words"),
    [
        ("notAfter", "99999999999h", 400, "notAfter is out of range"),
        ("notBefore", "-99999999999h", 400, "notBefore is out of range"),
        ("notBefore", "0001-01-01T00:00:00Z", 403, "notBefore cannot be more than 24h in the past"),
        ("notBefore", "-48h", 403, "notBefore cannot be more than 24h in the past"),
    ],
)
def test_requested_times(session_ca: CAProcess, field: str, value: str, status: int, words: str) -> None:
    csr, _ = csr_for("svc.example.com")
    tok = signer_for(session_ca.pki).token()
    got, body = session_ca.request("POST", "/1.0/sign", {"csr": csr, "ott": tok, field: value})
    assert got == status and words in body["message"], body


def test_a_little_backdating_is_still_allowed(session_ca: CAProcess) -> None:
    csr, _ = csr_for("svc.example.com")
    tok = signer_for(session_ca.pki).token()
    got, body = session_ca.request("POST", "/1.0/sign", {"csr": csr, "ott": tok, "notBefore": "-1h"})
    assert got == 201, body
