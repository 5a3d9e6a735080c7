"""`step certificate fingerprint|inspect|create|verify`, against step 0.19's output and real openssl."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers import FIXTURES, PKI, assert_one_line_error, run_step

LEAF = FIXTURES / "leaf" / "leaf.crt"
CSR = FIXTURES / "leaf" / "svc.csr"
FIXTURE_ROOT = FIXTURES / "pki" / "certs" / "root_ca.crt"
FIXTURE_INTERMEDIATE = FIXTURES / "pki" / "certs" / "intermediate_ca.crt"


def openssl(
    *args: str | Path, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, input=input
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("cert-env")
    out = {**os.environ, "STEPPATH": str(base / "step"), "HOME": str(base)}
    out.pop("STEPDEBUG", None)
    return out


def step(env: dict[str, str], *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_step([str(a) for a in args], env, check=check)


# ------------------------------------------------------------------ step 0.19's own outputs


def test_fingerprint_of_the_fixture_root_matches_step(env: dict[str, str]) -> None:
    expected = (FIXTURES / "cli" / "fingerprint_root.txt").read_text()
    assert step(env, "certificate", "fingerprint", FIXTURE_ROOT).stdout == expected


@pytest.mark.parametrize(
    ("args", "fixture"),
    [
        ([], "inspect_leaf.txt"),
        (["--short"], "inspect_leaf_short.txt"),
        (["--format", "text"], "inspect_leaf.txt"),
    ],
)
def test_inspect_text_matches_step_byte_for_byte(env: dict[str, str], args: list[str], fixture: str) -> None:
    result = step(env, "certificate", "inspect", LEAF, *args)
    assert result.stdout == (FIXTURES / "cli" / fixture).read_text()
    assert result.stderr == ""


def test_inspect_json_matches_step(env: dict[str, str]) -> None:
    ours = json.loads(step(env, "certificate", "inspect", LEAF, "--format", "json").stdout)
    assert ours == json.loads((FIXTURES / "cli" / "inspect_leaf.json").read_text())
    assert {"subject", "issuer", "serial_number", "validity", "extensions"} <= set(ours)
    assert set(ours["validity"]) == {"start", "end", "length"}


def test_inspect_bundle_and_pem(env: dict[str, str]) -> None:
    docs = json.loads(step(env, "certificate", "inspect", LEAF, "--bundle", "--format", "json").stdout)
    assert [d["subject_dn"] for d in docs] == ["CN=leaf.example.com", "O=Fixture, CN=Fixture Intermediate CA"]
    short = step(env, "certificate", "inspect", LEAF, "--bundle", "--short").stdout
    assert short.count("X.509v3 ") == 2 and "Intermediate CA Certificate" in short
    pem = step(env, "certificate", "inspect", LEAF, "--format", "pem").stdout
    first = x509.load_pem_x509_certificates(LEAF.read_bytes())[0]
    assert pem == first.public_bytes(serialization.Encoding.PEM).decode()
    both = step(env, "certificate", "inspect", LEAF, "--format", "pem", "--bundle").stdout
    assert x509.load_pem_x509_certificates(both.encode()) == x509.load_pem_x509_certificates(
        LEAF.read_bytes()
    )


def test_fingerprint_formats_bundle_der_and_stdin(env: dict[str, str], tmp_path: Path) -> None:
    ders = [
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(LEAF.read_bytes())
    ]
    digests = [hashes.Hash(hashes.SHA256()) for _ in ders]
    for digest, der in zip(digests, ders, strict=True):
        digest.update(der)
    raw = [d.finalize() for d in digests]
    assert step(env, "certificate", "fingerprint", LEAF).stdout.strip() == raw[0].hex()
    assert step(env, "certificate", "fingerprint", LEAF, "--bundle").stdout.split() == [r.hex() for r in raw]
    import base64

    b64 = step(env, "certificate", "fingerprint", LEAF, "--format", "base64").stdout.strip()
    assert b64 == base64.b64encode(raw[0]).decode()
    b64url = step(env, "certificate", "fingerprint", LEAF, "--format", "base64-url").stdout.strip()
    assert b64url == base64.urlsafe_b64encode(raw[0]).decode().rstrip("=")
    der_file = tmp_path / "leaf.der"
    der_file.write_bytes(ders[0])
    assert step(env, "certificate", "fingerprint", der_file).stdout.strip() == raw[0].hex()
    piped = run_step(["certificate", "fingerprint", "-"], env, input=LEAF.read_text())
    assert piped.stdout.strip() == raw[0].hex()
    openssl_fp = openssl("x509", "-in", LEAF, "-noout", "-fingerprint", "-sha256").stdout
    assert openssl_fp.strip().split("=")[1].replace(":", "").lower() == raw[0].hex()


def test_inspect_csr_text_short_json_der(env: dict[str, str], tmp_path: Path) -> None:
    text = step(env, "certificate", "inspect", CSR).stdout
    assert text.startswith("Certificate Request:") and "svc.example.com" in text
    short = step(env, "certificate", "inspect", CSR, "--short").stdout
    assert short.startswith("X.509v3 Certificate Signing Request (ECDSA P-256)")
    assert "Subject:     svc.example.com" in short and "Certificate Request:" not in short
    doc = json.loads(step(env, "certificate", "inspect", CSR, "--format", "json").stdout)
    assert doc["subject"]["common_name"] == ["svc.example.com"]
    der = tmp_path / "svc.csr.der"
    der.write_bytes(x509.load_pem_x509_csr(CSR.read_bytes()).public_bytes(serialization.Encoding.DER))
    assert step(env, "certificate", "inspect", der, "--short").stdout == short
    assert step(env, "certificate", "inspect", CSR, "--format", "pem").stdout == CSR.read_text()


def _self_signed(tmp_path: Path, key: Any, cn: str, name: str = "c.crt") -> Path:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(99)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(
            key,
            None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256(),
        )
    )
    path = tmp_path / name
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_inspect_ed448_text_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    """The text renderer cannot show an Ed448 key: one line naming the file, no traceback."""
    path = _self_signed(tmp_path, ed448.Ed448PrivateKey.generate(), "ed448")
    line = assert_one_line_error(step(env, "certificate", "inspect", path, check=False))
    assert line.startswith(f"{path}: cannot inspect")
    # what can be shown still is
    assert "Subject:     ed448" in step(env, "certificate", "inspect", path, "--short").stdout
    assert (
        json.loads(step(env, "certificate", "inspect", path, "--format", "json").stdout)["subject_dn"]
        == "CN=ed448"
    )


def test_inspect_json_keeps_non_ascii(env: dict[str, str], tmp_path: Path) -> None:
    path = _self_signed(tmp_path, ec.generate_private_key(ec.SECP256R1()), "Zürich ☃")
    out = step(env, "certificate", "inspect", path, "--format", "json").stdout
    assert '"Zürich ☃"' in out and "\\u00fc" not in out
    assert json.loads(out)["subject"]["common_name"] == ["Zürich ☃"]


# ------------------------------------------------------------------ create


@pytest.mark.parametrize(
    ("flags", "key_check"),
    [
        ([], lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp256r1"),
        (
            ["--crv", "P-384"],
            lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp384r1",
        ),
        (["--kty", "OKP", "--crv", "Ed25519"], lambda k: isinstance(k, ed25519.Ed25519PublicKey)),
        (
            ["--kty", "RSA", "--size", "2048"],
            lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 2048,
        ),
    ],
    ids=["P-256", "P-384", "Ed25519", "RSA"],
)
def test_create_csr_verified_by_openssl(
    env: dict[str, str], tmp_path: Path, flags: list[str], key_check: Any
) -> None:
    csr_path, key_path = tmp_path / "svc.csr", tmp_path / "svc.key"
    result = step(
        env, "certificate", "create", "svc.example.com", csr_path, key_path, "--csr",
        "--san", "svc.example.com", "--san", "10.1.2.3", "--san", "ops@example.com", "--san", "spiffe://acme/svc",
        *flags, "--no-password", "--insecure",
    )  # fmt: skip
    assert "certificate signing request has been saved" in result.stderr
    verified = openssl("req", "-in", csr_path, "-verify", "-noout")
    assert "verify OK" in verified.stdout + verified.stderr
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "svc.example.com"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["svc.example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert san.get_values_for_type(x509.RFC822Name) == ["ops@example.com"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://acme/svc"]
    assert key_check(csr.public_key())
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED" not in key_path.read_bytes()
    pub_from_key = openssl("pkey", "-in", key_path, "-pubout").stdout
    assert pub_from_key == openssl("req", "-in", csr_path, "-noout", "-pubkey").stdout


def test_create_csr_default_san_and_encrypted_key(env: dict[str, str], tmp_path: Path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text("key-password\n")
    csr_path, key_path = tmp_path / "a.csr", tmp_path / "a.key"
    step(env, "certificate", "create", "a.example.com", csr_path, key_path, "--csr", "--password-file", pw)
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["a.example.com"]
    assert b"ENCRYPTED" in key_path.read_bytes()
    openssl("pkey", "-in", key_path, "-passin", "pass:key-password", "-noout")
    assert openssl("pkey", "-in", key_path, "-passin", "pass:wrong", "-noout", check=False).returncode != 0


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> dict[str, Path]:
    """root-ca → intermediate-ca → leaf made with the profiles (root key encrypted, others not)."""
    d = tmp_path_factory.mktemp("chain")
    pw = d / "pw.txt"
    pw.write_text("root-key-password")
    files = {"dir": d, "pw": pw}
    for name in ("root", "int", "leaf", "leaf2"):
        files[f"{name}.crt"], files[f"{name}.key"] = d / f"{name}.crt", d / f"{name}.key"
    step(env, "certificate", "create", "Test Root", files["root.crt"], files["root.key"], "--profile", "root-ca",
         "--password-file", pw)  # fmt: skip
    step(env, "certificate", "create", "Test Intermediate", files["int.crt"], files["int.key"],
         "--profile", "intermediate-ca", "--ca", files["root.crt"], "--ca-key", files["root.key"],
         "--ca-password-file", pw, "--no-password", "--insecure")  # fmt: skip
    step(env, "certificate", "create", "www.example.com", files["leaf.crt"], files["leaf.key"],
         "--ca", files["int.crt"], "--ca-key", files["int.key"], "--san", "www.example.com", "--san", "192.0.2.7",
         "--no-password", "--insecure")  # fmt: skip
    files["bundle.crt"] = d / "bundle.crt"
    files["bundle.crt"].write_bytes(files["leaf.crt"].read_bytes() + files["int.crt"].read_bytes())
    return files


def test_profiles_make_a_chain_openssl_accepts(chain: dict[str, Path]) -> None:
    openssl("verify", "-CAfile", chain["root.crt"], chain["int.crt"])
    ok = openssl("verify", "-CAfile", chain["root.crt"], "-untrusted", chain["int.crt"], chain["leaf.crt"])
    assert ok.stdout.strip().endswith("OK")
    openssl("verify", "-CAfile", chain["root.crt"], "-untrusted", chain["int.crt"], "-verify_hostname",
            "www.example.com", chain["leaf.crt"])  # fmt: skip
    root = x509.load_pem_x509_certificate(chain["root.crt"].read_bytes())
    inter = x509.load_pem_x509_certificate(chain["int.crt"].read_bytes())
    leaf = x509.load_pem_x509_certificate(chain["leaf.crt"].read_bytes())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert root.not_valid_after_utc - root.not_valid_before_utc == timedelta(days=3650)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(hours=24)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert (
        leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        == inter.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    assert b"ENCRYPTED" in chain["root.key"].read_bytes()
    openssl("pkey", "-in", chain["root.key"], "-passin", f"file:{chain['pw']}", "-noout")


def test_self_signed_profile_needs_subtle(env: dict[str, str], tmp_path: Path) -> None:
    crt, key = tmp_path / "s.crt", tmp_path / "s.key"
    refused = step(env, "certificate", "create", "self.test", crt, key, "--profile", "self-signed",
                   "--no-password", "--insecure", check=False)  # fmt: skip
    assert "--subtle" in assert_one_line_error(refused)
    assert not crt.exists() and not key.exists()
    step(env, "certificate", "create", "self.test", crt, key, "--profile", "self-signed", "--subtle",
         "--no-password", "--insecure", "--not-after", "1h")  # fmt: skip
    openssl("verify", "-CAfile", crt, "-partial_chain", crt)
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    assert cert.issuer == cert.subject
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(hours=1)


def test_create_refuses_to_overwrite_without_force(
    env: dict[str, str], chain: dict[str, Path], tmp_path: Path
) -> None:
    crt, key = tmp_path / "x.crt", tmp_path / "x.key"
    crt.write_text("keep me")
    args = ["certificate", "create", "x.test", str(crt), str(key), "--csr", "--no-password", "--insecure"]
    line = assert_one_line_error(run_step(args, env, check=False))
    assert "already exists" in line and "--force" in line
    assert crt.read_text() == "keep me" and not key.exists()
    run_step([*args, "--force"], env)
    openssl("req", "-in", crt, "-verify", "-noout")


# ------------------------------------------------------------------ verify


def test_verify_good_chain_is_silent(env: dict[str, str], chain: dict[str, Path]) -> None:
    result = step(env, "certificate", "verify", chain["bundle.crt"], "--roots", chain["root.crt"])
    assert result.stdout == "" and result.stderr == ""
    for host in ("www.example.com", "192.0.2.7", "WWW.EXAMPLE.COM"):
        step(env, "certificate", "verify", chain["bundle.crt"], "--roots", chain["root.crt"], "--host", host)
    # roots as a directory and as a comma-separated list
    step(env, "certificate", "verify", chain["bundle.crt"], "--roots", chain["dir"])
    step(env, "certificate", "verify", chain["bundle.crt"], "--roots", f"{FIXTURE_ROOT},{chain['root.crt']}")
    step(env, "certificate", "verify", chain["int.crt"], "--roots", chain["root.crt"])


def test_verify_failures(env: dict[str, str], chain: dict[str, Path], tmp_path: Path) -> None:
    def fails(*args: str | Path) -> str:
        return assert_one_line_error(step(env, "certificate", "verify", *args, check=False))

    assert "unknown authority" in fails(chain["bundle.crt"], "--roots", FIXTURE_ROOT)
    assert "unknown authority" in fails(chain["leaf.crt"], "--roots", chain["root.crt"])  # no intermediate
    assert "not valid for other.example.com" in fails(
        chain["bundle.crt"], "--roots", chain["root.crt"], "--host", "other.example.com"
    )
    assert "not valid for 192.0.2.8" in fails(
        chain["bundle.crt"], "--roots", chain["root.crt"], "--host", "192.0.2.8"
    )
    expired, expired_key = tmp_path / "expired.crt", tmp_path / "expired.key"
    step(env, "certificate", "create", "old.example.com", expired, expired_key, "--ca", chain["int.crt"],
         "--ca-key", chain["int.key"], "--not-before", "-48h", "--not-after", "-24h", "--no-password",
         "--insecure")  # fmt: skip
    bundle = tmp_path / "expired-bundle.crt"
    bundle.write_bytes(expired.read_bytes() + chain["int.crt"].read_bytes())
    assert "expired" in fails(bundle, "--roots", chain["root.crt"])
    assert openssl(
        "verify", "-CAfile", chain["root.crt"], "-untrusted", chain["int.crt"], expired, check=False
    ).returncode
    future, future_key = tmp_path / "future.crt", tmp_path / "future.key"
    step(env, "certificate", "create", "new.example.com", future, future_key, "--ca", chain["int.crt"],
         "--ca-key", chain["int.key"], "--not-before", "24h", "--not-after", "48h", "--no-password",
         "--insecure")  # fmt: skip
    future.write_bytes(future.read_bytes() + chain["int.crt"].read_bytes())
    assert "not valid yet" in fails(future, "--roots", chain["root.crt"])


def test_verify_defaults_to_the_steppath_root(session_pki: PKI, tmp_path: Path) -> None:
    """`step ca init` wrote defaults.json's root: verify uses it without --roots."""
    step(session_pki.env, "certificate", "verify", session_pki.intermediate)
    line = assert_one_line_error(
        step(session_pki.env, "certificate", "verify", FIXTURE_INTERMEDIATE, check=False)
    )
    assert "unknown authority" in line


def test_verify_the_fixture_leaf_against_the_fixture_root(env: dict[str, str]) -> None:
    """step 0.19's leaf (with its intermediate) chains to its root; it is a 24h certificate, so past
    its end the same command must say it expired."""
    leaf = x509.load_pem_x509_certificates(LEAF.read_bytes())[0]
    result = step(
        env, "certificate", "verify", LEAF, "--roots", FIXTURE_ROOT, "--host", "leaf.example.com", check=False
    )
    if datetime.now(UTC) <= leaf.not_valid_after_utc:
        assert result.returncode == 0, result.stderr
    else:
        assert "expired" in assert_one_line_error(result)


# ------------------------------------------------------------------ bad input: one line, no traceback


@pytest.fixture(scope="module")
def junk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("junk")
    files = {
        "garbage": b"this is not a certificate\n",
        "bad_base64": b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        "bad_der": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "truncated": LEAF.read_bytes()[:400] + b"\n-----END CERTIFICATE-----\n",
        "key_only": (FIXTURES / "leaf" / "leaf.key").read_bytes(),
        "empty": b"",
        "der_junk": b"\x30\x03\x02\x01\x05",
        "bad_csr": b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    }
    out = {"dir": d, "missing": d / "missing.crt"}
    for name, content in files.items():
        out[name] = d / name
        out[name].write_bytes(content)
    return out


@pytest.mark.parametrize("command", ["fingerprint", "inspect"])
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "does not exist"),
        ("dir", "is a directory"),
        ("garbage", "not a PEM or DER certificate"),
        ("bad_base64", "bad base64"),
        ("bad_der", "invalid DER"),
        ("truncated", ""),
        ("key_only", "no PEM CERTIFICATE block"),
        ("empty", ""),
        ("der_junk", "invalid DER"),
    ],
)
def test_bad_certificate_files(
    env: dict[str, str], junk: dict[str, Path], command: str, name: str, message: str
) -> None:
    line = assert_one_line_error(step(env, "certificate", command, junk[name], check=False))
    assert message in line
    assert str(junk[name]) in line


def test_bad_csr_file(env: dict[str, str], junk: dict[str, Path]) -> None:
    assert "not a valid certificate request" in assert_one_line_error(
        step(env, "certificate", "inspect", junk["bad_csr"], check=False)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--roots", "MISSING"], "does not exist"),
        (["--roots", "GARBAGE"], "not a PEM or DER certificate"),
        (["--roots", "DIR"], "no certificate files"),
        (["--roots", ","], "names no file"),
    ],
)
def test_bad_verify_roots(
    env: dict[str, str], chain: dict[str, Path], junk: dict[str, Path], args: list[str], message: str
) -> None:
    values = {
        "MISSING": str(junk["missing"]),
        "GARBAGE": str(junk["garbage"]),
        "DIR": str(junk["dir"] / "sub"),
    }
    (junk["dir"] / "sub").mkdir(exist_ok=True)
    resolved = [values.get(a, a) for a in args]
    line = assert_one_line_error(
        step(env, "certificate", "verify", chain["bundle.crt"], *resolved, check=False)
    )
    assert message in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "leaf"], "'--ca' and '--ca-key' are required"),
        (["--profile", "intermediate-ca", "--ca", "INT"], "'--ca' and '--ca-key' are required"),
        (["--profile", "root-ca", "--ca", "INT", "--ca-key", "INTKEY"], "cannot be used with"),
        (["--ca", "MISSING", "--ca-key", "INTKEY"], "does not exist"),
        (["--ca", "GARBAGE", "--ca-key", "INTKEY"], "is not a valid certificate"),
        (["--ca", "INT", "--ca-key", "GARBAGE"], "is not a valid private key"),
        (["--ca", "INT", "--ca-key", "ROOTKEY", "--ca-password-file", "ROOTPW"], "is not the private key of"),
        (["--ca", "ROOT", "--ca-key", "ROOTKEY", "--ca-password-file", "WRONGPW"], "wrong password"),
        (["--ca", "ROOT", "--ca-key", "ROOTKEY"], "--ca-password-file"),
        (["--csr", "--kty", "RSA", "--size", "1024"], "at least 2048"),
        (["--csr", "--kty", "OKP", "--crv", "P-256"], "Ed25519"),
        (["--csr", "--no-password"], "--insecure"),
        (["--csr", "--password-file", "MISSING"], "does not exist"),
        (["--csr", "--password-file", "EMPTYPW"], "cannot be empty"),
        (["--csr"], "--password-file"),  # no terminal to ask for the key password
        (["--profile", "nope"], "--profile"),
        (["--ca", "INT", "--ca-key", "INTKEY", "--not-after", "someday"], "invalid time or duration"),
        (
            ["--ca", "INT", "--ca-key", "INTKEY", "--not-before", "2h", "--not-after", "1h"],
            "ends before it starts",
        ),
    ],
)
def test_bad_create_input(
    env: dict[str, str],
    chain: dict[str, Path],
    junk: dict[str, Path],
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("wrong")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    values = {
        "INT": chain["int.crt"],
        "INTKEY": chain["int.key"],
        "ROOT": chain["root.crt"],
        "ROOTKEY": chain["root.key"],
        "MISSING": junk["missing"],
        "GARBAGE": junk["garbage"],
        "WRONGPW": wrong,
        "ROOTPW": chain["pw"],
        "EMPTYPW": empty,
    }
    resolved = [str(values.get(a, a)) for a in args]
    if "--csr" not in args and "--no-password" not in args:
        resolved += ["--no-password", "--insecure"]
    crt, key = tmp_path / "out.crt", tmp_path / "out.key"
    line = assert_one_line_error(
        step(env, "certificate", "create", "x.example.com", crt, key, *resolved, check=False)
    )
    assert message in line
    assert not crt.exists() and not key.exists()
