"""Names a token authorizes, checked against a CSR (stepca.authority.names): the fast path for
a CSR that asks for exactly the token's names gives what the full checks give, on CSRs made by
cryptography, by openssl and by smallstep's step 0.19 (Go: a PrintableString common name), and
every other CSR takes the full checks."""

from __future__ import annotations

import ipaddress
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from stepca.authority import names
from stepca.authority.names import _SLOW, _allowed, _check_names, _exact_request, authorize_names
from stepca.errors import Forbidden

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "step-0.19" / "leaf" / "svc.csr"
KEY = ec.generate_private_key(ec.SECP256R1())


def _csr(cn: str | None, sans: list[x509.GeneralName] | None, extra: list[Any] | None = None,
         critical: bool = False, cn_type: Any = None) -> x509.CertificateSigningRequest:  # fmt: skip
    attrs = []
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn, cn_type) if cn_type else
                     x509.NameAttribute(NameOID.COMMON_NAME, cn))  # fmt: skip
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=critical)
    for ext in extra or []:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(KEY, hashes.SHA256())


def _full(csr: x509.CertificateSigningRequest, subject: str, sans: tuple[str, ...], fixed: bool) -> Any:
    allowed = _allowed(sans)
    try:
        got = _check_names(csr, subject, sans, allowed)
    except Forbidden as exc:
        return ("forbidden", str(exc))
    return allowed.san if fixed else got


def _fast(csr: x509.CertificateSigningRequest, subject: str, sans: tuple[str, ...], fixed: bool) -> Any:
    try:
        return authorize_names(csr, subject, sans, fixed=fixed)
    except Forbidden as exc:
        return ("forbidden", str(exc))


def _dns(*values: str) -> list[x509.GeneralName]:
    return [x509.DNSName(v) for v in values]


def test_the_fast_path_agrees_with_the_full_checks() -> None:
    rng = random.Random(5)
    pool = ["svc.example.com", "a.example.com", "b.example.com", "10.0.0.1", "bob@example.com"]
    fast_taken = 0
    for _ in range(300):
        token_sans = tuple(rng.sample(pool, rng.randrange(1, 4)))
        subject = rng.choice([token_sans[0], "svc.example.com", "other"])
        cn = rng.choice([None, subject, "x.example.com", token_sans[-1]])
        general: list[x509.GeneralName] = []
        for name in rng.sample(pool, rng.randrange(0, 4)):
            if "@" in name:
                general.append(x509.RFC822Name(name))
            elif name[0].isdigit():
                general.append(x509.IPAddress(ipaddress.ip_address(name)))
            else:
                general.append(x509.DNSName(name))
        if rng.random() < 0.4:  # exactly what the token allows, in its order
            general = _allowed(token_sans).san or []  # type: ignore[assignment]
        sans = None if not general and rng.random() < 0.5 else list(general)
        extra = [x509.BasicConstraints(ca=False, path_length=None)] if rng.random() < 0.2 else []
        critical = rng.random() < 0.1
        printable = cn is not None and all(ch in names._PRINTABLE for ch in cn) and rng.random() < 0.5
        cn_type = _ASN1Type.PrintableString if printable else None
        csr = _csr(cn, sans, extra, critical=critical, cn_type=cn_type)
        fixed = rng.random() < 0.3
        if _exact_request(csr, subject, _allowed(token_sans)) is not _SLOW:
            fast_taken += 1
        assert _fast(csr, subject, token_sans, fixed) == _full(csr, subject, token_sans, fixed)
    assert fast_taken > 50  # the case it is for comes up


def test_a_go_made_csr_takes_the_fast_path() -> None:
    """step 0.19 writes the common name as a PrintableString."""
    csr = x509.load_pem_x509_csr(FIXTURE.read_bytes())
    sans = ("svc.example.com",)
    assert _exact_request(csr, "svc.example.com", _allowed(sans)) is not _SLOW
    assert authorize_names(csr, "svc.example.com", sans) == _full(csr, "svc.example.com", sans, False)
    assert _exact_request(csr, "other.example.com", _allowed(sans)) is _SLOW  # CN is not the subject


def test_openssl_csrs_agree(tmp_path: Path) -> None:
    for subj, ext in [("/CN=svc.example.com", "subjectAltName=DNS:svc.example.com"),
                      ("/CN=svc.example.com/O=Acme", "subjectAltName=DNS:svc.example.com"),
                      ("/CN=svc.example.com", "subjectAltName=DNS:svc.example.com,DNS:evil.example.com"),
                      ("/CN=svc.example.com", "keyUsage=digitalSignature")]:  # fmt: skip
        key, out = tmp_path / "k", tmp_path / "r.csr"
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", str(key), "-out", str(out), "-subj", subj, "-addext", ext],
                       check=True, capture_output=True)  # fmt: skip
        csr = x509.load_pem_x509_csr(out.read_bytes())
        sans = ("svc.example.com",)
        assert _fast(csr, "svc.example.com", sans, False) == _full(csr, "svc.example.com", sans, False)


def test_other_shapes_take_the_full_checks() -> None:
    allowed = _allowed(("svc.example.com",))
    exact = _dns("svc.example.com")
    assert _exact_request(_csr("svc.example.com", exact), "svc.example.com", allowed) is not _SLOW
    assert _exact_request(_csr(None, None), "svc.example.com", allowed) is not _SLOW
    for csr in [
        _csr("svc.example.com", exact, critical=True),  # a critical flag
        _csr("svc.example.com", exact, [x509.BasicConstraints(ca=False, path_length=None)]),
        _csr("svc.example.com", _dns("svc.example.com", "x.example.com")),
        _csr("x.example.com", exact),  # another common name
        _csr("svc.example.com", _dns("SVC.example.com")),  # not the same bytes
    ]:
        assert _exact_request(csr, "svc.example.com", allowed) is _SLOW
    with pytest.raises(Forbidden):
        authorize_names(
            _csr("svc.example.com", _dns("x.example.com")), "svc.example.com", ("svc.example.com",)
        )
    assert names._subject_ders("a_b") == names._subject_ders("a_b")  # no PrintableString for '_'
    assert len(names._subject_ders("a_b")) == 2 and len(names._subject_ders("ab")) == 3
