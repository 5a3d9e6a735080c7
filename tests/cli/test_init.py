"""`step ca init` without a terminal: the tree, its keys and certificates checked with real openssl."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwcrypto import jwa, jwe, jwk

from tests.helpers import FIXTURES, PASSWORD, PKI, assert_one_line_error, make_pki, run_step

FIXTURE_CA_JSON: dict[str, Any] = json.loads((FIXTURES / "pki" / "config" / "ca.json").read_text())
FIXTURE_DEFAULTS: dict[str, Any] = json.loads((FIXTURES / "pki" / "config" / "defaults.json").read_text())
PROVISIONER_PASSWORD = "provisioner-secret-456"

BASE_FILES = {
    "certs/root_ca.crt",
    "certs/intermediate_ca.crt",
    "secrets/root_ca_key",
    "secrets/intermediate_ca_key",
    "config/ca.json",
    "config/defaults.json",
}
SSH_FILES = {
    "certs/ssh_host_ca_key.pub",
    "certs/ssh_user_ca_key.pub",
    "secrets/ssh_host_ca_key",
    "secrets/ssh_user_ca_key",
}


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def env_for(base: Path) -> dict[str, str]:
    env = {**os.environ, "STEPPATH": str(base / "step"), "HOME": str(base)}
    env.pop("STEPDEBUG", None)
    return env


def init_args(**flags: str | None) -> list[str]:
    """`ca init` with every value as a flag; ``flag=None`` leaves it out."""
    values: dict[str, str | None] = {
        "--name": "Acme",
        "--dns": "ca.acme.test",
        "--address": "127.0.0.1:9443",
        "--provisioner": "ops@acme.test",
    }
    values.update({f"--{k.replace('_', '-')}": v for k, v in flags.items()})
    args = ["ca", "init"]
    for flag, value in values.items():
        if value is not None:
            args += [flag, value]
    return args


def summary(stderr: str) -> dict[str, str]:
    return dict(line[2:].split(": ", 1) for line in stderr.splitlines() if line.startswith("✔ "))


def load_crt(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """The plain tree (read only by the tests)."""
    return make_pki(tmp_path_factory.mktemp("init-plain"), name="Acme")


@pytest.fixture(scope="module")
def ssh_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """--ssh, --deployment-type and a separate provisioner password."""
    base = tmp_path_factory.mktemp("init-ssh")
    prov = base / "provisioner.txt"
    prov.write_text(PROVISIONER_PASSWORD + "\n")  # a trailing newline is not part of the password
    return make_pki(
        base,
        ssh=True,
        name="Acme",
        extra_args=["--provisioner-password-file", str(prov), "--deployment-type", "standalone"],
    )


def test_writes_exactly_the_seed_tree_with_private_modes(pki: PKI) -> None:
    files = {str(p.relative_to(pki.step_path)) for p in pki.step_path.rglob("*") if p.is_file()}
    assert files == BASE_FILES
    for directory in [pki.step_path, *(pki.step_path / d for d in ("certs", "secrets", "config", "db"))]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    for name in ("secrets/root_ca_key", "secrets/intermediate_ca_key", "config/ca.json"):
        assert stat.S_IMODE((pki.step_path / name).stat().st_mode) == 0o600, name


def test_openssl_verifies_the_intermediate_against_the_root(pki: PKI) -> None:
    result = openssl("verify", "-CAfile", pki.root, pki.intermediate)
    assert result.stdout.strip() == f"{pki.intermediate}: OK"


@pytest.mark.parametrize("key", ["intermediate_ca_key", "root_ca_key"])
def test_openssl_opens_the_keys_only_with_the_password(pki: PKI, tmp_path: Path, key: str) -> None:
    path = pki.step_path / "secrets" / key
    assert b"ENCRYPTED" in path.read_bytes()
    openssl("pkey", "-in", path, "-passin", f"file:{pki.password_file}", "-noout")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not-the-password")
    assert openssl("pkey", "-in", path, "-passin", f"file:{wrong}", "-noout", check=False).returncode != 0
    # and the private key belongs to the certificate next to it
    cert = pki.step_path / "certs" / key.replace("_key", ".crt")
    pub_from_key = openssl("pkey", "-in", path, "-passin", f"file:{pki.password_file}", "-pubout").stdout
    pub_from_crt = openssl("x509", "-in", cert, "-noout", "-pubkey").stdout
    assert pub_from_key == pub_from_crt


def test_fingerprint_matches_openssl_defaults_and_summary(pki: PKI) -> None:
    ours = run_step(["certificate", "fingerprint", str(pki.root)], pki.env).stdout.strip()
    theirs = openssl("x509", "-in", pki.root, "-noout", "-fingerprint", "-sha256").stdout
    assert ours == theirs.strip().split("=", 1)[1].replace(":", "").lower()
    assert json.loads((pki.step_path / "config" / "defaults.json").read_text())["fingerprint"] == ours


def test_ca_certificates_names_lifetimes_and_constraints(pki: PKI) -> None:
    root, inter = load_crt(pki.root), load_crt(pki.intermediate)
    for cert, cn, pathlen in ((root, "Acme Root CA", 1), (inter, "Acme Intermediate CA", 0)):
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme"
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=3650)
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == pathlen
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert root.issuer == root.subject and inter.issuer == root.subject
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = inter.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ski
    text = openssl("x509", "-in", pki.intermediate, "-noout", "-text").stdout
    assert "CA:TRUE, pathlen:0" in text and "Certificate Sign, CRL Sign" in text


def test_provisioner_encrypted_key_decrypts_to_the_key_whose_thumbprint_is_kid(pki: PKI) -> None:
    prov = pki.provisioner()
    header = json.loads(jwk.base64url_decode(prov["encryptedKey"].split(".")[0]))
    assert header["alg"] == "PBES2-HS256+A128KW" and header["enc"] == "A256GCM"
    assert header["cty"] == "jwk+json" and header["p2c"] == 600000
    jwa.default_max_pbkdf2_iterations = max(jwa.default_max_pbkdf2_iterations, 600_000)
    token = jwe.JWE()
    token.deserialize(prov["encryptedKey"], key=jwk.JWK.from_password(PASSWORD))
    private = jwk.JWK.from_json(token.payload)
    assert private.has_private
    assert private.thumbprint() == prov["key"]["kid"]
    assert private.export_public(as_dict=True)["x"] == prov["key"]["x"]
    with pytest.raises(Exception, match=r"(?i)decrypt|unwrap|invalid|fail"):
        jwe.JWE().deserialize(prov["encryptedKey"], key=jwk.JWK.from_password("wrong"))


def test_ca_json_and_defaults_json_have_the_fixture_shape(pki: PKI) -> None:
    ours = pki.config()
    expected_keys = [k for k in FIXTURE_CA_JSON if k not in ("ssh", "templates")]
    assert list(ours) == expected_keys
    assert ours["db"] == {"type": "sqlite", "dataSource": str(pki.step_path / "db" / "stepca.db")}
    assert ours["tls"] == FIXTURE_CA_JSON["tls"]
    assert ours["logger"] == FIXTURE_CA_JSON["logger"]
    assert ours["federatedRoots"] is None and ours["insecureAddress"] == ""
    assert ours["root"] == str(pki.root) and ours["crt"] == str(pki.intermediate)
    assert ours["key"] == str(pki.step_path / "secrets" / "intermediate_ca_key")
    assert ours["dnsNames"] == ["localhost", "127.0.0.1"]
    (prov,) = ours["authority"]["provisioners"]
    fixture_prov = FIXTURE_CA_JSON["authority"]["provisioners"][0]
    assert [k for k in prov] == [k for k in fixture_prov if k != "claims"]
    assert list(prov["key"]) == list(fixture_prov["key"])
    assert prov["type"] == "JWK" and prov["name"] == "admin@example.com"
    defaults = json.loads((pki.step_path / "config" / "defaults.json").read_text())
    assert list(defaults) == list(FIXTURE_DEFAULTS)
    assert defaults["ca-url"] == f"https://localhost:{pki.port}"
    assert defaults["ca-config"] == str(pki.ca_json) and defaults["root"] == str(pki.root)


def test_ssh_files_block_and_provisioners(ssh_pki: PKI, tmp_path: Path) -> None:
    files = {str(p.relative_to(ssh_pki.step_path)) for p in ssh_pki.step_path.rglob("*") if p.is_file()}
    assert files == BASE_FILES | SSH_FILES
    config = ssh_pki.config()
    assert list(config) == [k for k in FIXTURE_CA_JSON if k != "templates"]
    assert config["ssh"] == {
        "hostKey": str(ssh_pki.step_path / "secrets" / "ssh_host_ca_key"),
        "userKey": str(ssh_pki.step_path / "secrets" / "ssh_user_ca_key"),
    }
    provs = config["authority"]["provisioners"]
    assert [(p["type"], p.get("claims")) for p in provs] == [
        ("JWK", {"enableSSHCA": True}),
        ("SSHPOP", {"enableSSHCA": True}),
    ]
    for kind in ("host", "user"):
        pub = ssh_pki.step_path / "certs" / f"ssh_{kind}_ca_key.pub"
        assert pub.read_text().startswith("ecdsa-sha2-nistp256 ")
        assert "256" in subprocess.run(["ssh-keygen", "-l", "-f", pub], capture_output=True, text=True).stdout
        key = ssh_pki.step_path / "secrets" / f"ssh_{kind}_ca_key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        derived = subprocess.run(
            ["ssh-keygen", "-y", "-P", PASSWORD, "-f", key], capture_output=True, text=True, timeout=30
        )
        assert derived.returncode == 0, derived.stderr
        assert derived.stdout.split()[:2] == pub.read_text().split()[:2]


def test_provisioner_password_file_encrypts_only_the_provisioner_key(ssh_pki: PKI) -> None:
    token = ssh_pki.provisioner()["encryptedKey"]
    jwa.default_max_pbkdf2_iterations = max(jwa.default_max_pbkdf2_iterations, 600_000)
    opened = jwe.JWE()
    opened.deserialize(token, key=jwk.JWK.from_password(PROVISIONER_PASSWORD))
    assert jwk.JWK.from_json(opened.payload).thumbprint() == ssh_pki.provisioner()["key"]["kid"]
    with pytest.raises(Exception, match=r"(?i)decrypt|unwrap|invalid|fail"):
        jwe.JWE().deserialize(token, key=jwk.JWK.from_password(PASSWORD))
    # the CA keys still use the CA password
    openssl(
        "pkey",
        "-in",
        ssh_pki.step_path / "secrets" / "intermediate_ca_key",
        "-passin",
        f"pass:{PASSWORD}",
        "-noout",
    )


@pytest.mark.parametrize(
    ("flags", "check"),
    [
        (
            ["--crv", "P-384"],
            lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp384r1",
        ),
        (
            ["--kty", "EC", "--crv", "P-521"],
            lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.key_size == 521,
        ),
        (["--kty", "OKP"], lambda k: isinstance(k, ed25519.Ed25519PublicKey)),
        (["--kty", "OKP", "--crv", "Ed25519"], lambda k: isinstance(k, ed25519.Ed25519PublicKey)),
        (["--kty", "RSA"], lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 2048),
        (
            ["--kty", "RSA", "--size", "3072"],
            lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 3072,
        ),
    ],
    ids=["P-384", "P-521", "OKP", "Ed25519", "RSA-2048", "RSA-3072"],
)
def test_key_types(tmp_path: Path, flags: list[str], check: Any) -> None:
    made = make_pki(tmp_path, extra_args=flags)
    for cert in (made.root, made.intermediate):
        assert check(load_crt(cert).public_key()), cert
    openssl("verify", "-CAfile", made.root, made.intermediate)
    openssl(
        "pkey",
        "-in",
        made.step_path / "secrets" / "intermediate_ca_key",
        "-passin",
        f"pass:{PASSWORD}",
        "-noout",
    )
    # the provisioner key stays EC P-256 (ES256), as step's
    assert made.provisioner()["key"]["alg"] == "ES256"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--kty", "RSA", "--size", "1024"], "must be at least 2048"),
        (["--kty", "RSA", "--size", "2047"], "must be at least 2048"),
        (["--kty", "OKP", "--crv", "X25519"], "Ed25519"),
        (["--crv", "P-192"], "'--crv'"),
        (["--kty", "DSA"], "'--kty'"),
        (["--crv", "P-256", "--size", "2048"], "incompatible"),
    ],
)
def test_refused_key_types_write_nothing(tmp_path: Path, flags: list[str], message: str) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD)
    result = run_step([*init_args(password_file=str(pw)), *flags], env_for(tmp_path), check=False)
    assert message in assert_one_line_error(result)
    assert not (tmp_path / "step").exists()


def test_reuses_an_existing_root(pki: PKI, tmp_path: Path) -> None:
    new_pw = tmp_path / "new.txt"
    new_pw.write_text("another-ca-password")
    root_key = pki.step_path / "secrets" / "root_ca_key"
    base_args = init_args(password_file=str(new_pw), root=str(pki.root), key=str(root_key))
    # the CA password does not open the old root key, and there is no terminal to ask
    refused = run_step(base_args, env_for(tmp_path), check=False)
    assert "--key-password-file" in assert_one_line_error(refused)
    assert not (tmp_path / "step").exists()

    result = run_step([*base_args, "--key-password-file", str(pki.password_file)], env_for(tmp_path))
    assert "Copying root certificate... done!" in result.stderr
    step_path = tmp_path / "step"
    assert (step_path / "certs" / "root_ca.crt").read_bytes() == pki.root.read_bytes()
    openssl("verify", "-CAfile", pki.root, step_path / "certs" / "intermediate_ca.crt")
    # the copied root key is now under the new CA password
    copied = step_path / "secrets" / "root_ca_key"
    openssl("pkey", "-in", copied, "-passin", f"file:{new_pw}", "-noout")
    assert openssl(
        "pkey", "-in", copied, "-passin", f"file:{pki.password_file}", "-noout", check=False
    ).returncode
    old_fp = json.loads((pki.step_path / "config" / "defaults.json").read_text())["fingerprint"]
    assert json.loads((step_path / "config" / "defaults.json").read_text())["fingerprint"] == old_fp
    assert summary(result.stderr)["Root fingerprint"] == old_fp
    inter = load_crt(step_path / "certs" / "intermediate_ca.crt")
    assert inter.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Acme Intermediate CA"


def test_existing_root_key_under_the_ca_password_needs_no_extra_flag(pki: PKI, tmp_path: Path) -> None:
    args = init_args(
        password_file=str(pki.password_file),
        root=str(pki.root),
        key=str(pki.step_path / "secrets" / "root_ca_key"),
    )
    run_step(args, env_for(tmp_path))
    openssl("verify", "-CAfile", pki.root, tmp_path / "step" / "certs" / "intermediate_ca.crt")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"root": "ROOT"}, "--root and --key must be used together"),
        ({"key": "KEY"}, "--root and --key must be used together"),
        ({"root": "MISSING", "key": "KEY"}, "does not exist"),
        ({"root": "GARBAGE", "key": "KEY"}, "is not a valid certificate"),
        ({"root": "INTERMEDIATE", "key": "KEY"}, "is not the private key of"),
        ({"root": "ROOT", "key": "GARBAGE"}, "is not a valid private key"),
        ({"root": "ROOT", "key": "KEY", "key_password_file": "WRONG"}, "wrong password"),
    ],
)
def test_bad_existing_root_flags(pki: PKI, tmp_path: Path, flags: dict[str, str], message: str) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("wrong")
    paths = {
        "ROOT": pki.root,
        "INTERMEDIATE": pki.intermediate,
        "KEY": pki.step_path / "secrets" / "root_ca_key",
        "MISSING": tmp_path / "missing.crt",
        "GARBAGE": garbage,
        "WRONG": wrong,
    }
    values = {k: str(paths[v]) for k, v in flags.items()}
    result = run_step(
        init_args(password_file=str(pki.password_file), **values), env_for(tmp_path), check=False
    )
    assert message in assert_one_line_error(result)
    assert not (tmp_path / "step" / "config").exists()


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    made = make_pki(tmp_path)
    before = {p: p.read_bytes() for p in made.step_path.rglob("*") if p.is_file()}
    again = run_step(init_args(password_file=str(made.password_file)), made.env, check=False)
    line = assert_one_line_error(again)
    assert "already exists" in line and "--force" in line and str(made.step_path) in line
    assert {p: p.read_bytes() for p in made.step_path.rglob("*") if p.is_file()} == before

    forced = run_step([*init_args(password_file=str(made.password_file)), "--force"], made.env)
    assert made.root.read_bytes() != before[made.root]
    assert (
        summary(forced.stderr)["Root fingerprint"]
        == json.loads((made.step_path / "config" / "defaults.json").read_text())["fingerprint"]
    )
    openssl("verify", "-CAfile", made.root, made.intermediate)
    assert made.config()["dnsNames"] == ["ca.acme.test"]


def test_summary_names_every_file_and_the_fingerprint(tmp_path: Path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD)
    result = run_step([*init_args(password_file=str(pw)), "--ssh"], env_for(tmp_path))
    lines = summary(result.stderr)
    step_path = tmp_path / "step"
    listed = {str(Path(v).relative_to(step_path)) for k, v in lines.items() if k not in ("Root fingerprint",)}
    assert listed == BASE_FILES | SSH_FILES | {"db"}
    fingerprint = run_step(
        ["certificate", "fingerprint", str(step_path / "certs" / "root_ca.crt")], env_for(tmp_path)
    )
    assert lines["Root fingerprint"] == fingerprint.stdout.strip()
    assert "Your PKI is ready to go" in result.stderr
    assert "Generating root certificate... done!" in result.stderr


@pytest.mark.parametrize("missing", ["name", "dns", "address", "provisioner", "password_file"])
def test_without_a_terminal_a_missing_flag_is_named(tmp_path: Path, missing: str) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD)
    args = init_args(**{"password_file": str(pw), missing: None})
    line = assert_one_line_error(run_step(args, env_for(tmp_path), check=False))
    assert "terminal" in line and f"--{missing.replace('_', '-')}" in line
    assert not (tmp_path / "step").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"password_file": "MISSING"}, "does not exist"),
        ({"password_file": "DIR"}, "is a directory"),
        ({"password_file": "EMPTY"}, "is empty"),
        ({"provisioner_password_file": "EMPTY"}, "is empty"),
        ({"provisioner_password_file": "MISSING"}, "does not exist"),
        ({"dns": "bad name"}, "not a valid DNS name"),
        ({"dns": "ok.test,,under_score.test,-x-"}, "'-x-' is not a valid DNS name"),
        ({"address": "9443"}, "must be host:port"),
        ({"address": ":0"}, "invalid port"),
        ({"name": " "}, "name cannot be empty"),
        ({"deployment_type": "linked"}, "--deployment-type"),
        ({"key_password_file": "PW"}, "--key-password-file requires"),
    ],
)
def test_bad_flags_one_line_and_nothing_written(tmp_path: Path, flags: dict[str, str], message: str) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    paths = {
        "MISSING": str(tmp_path / "missing.txt"),
        "DIR": str(tmp_path),
        "EMPTY": str(empty),
        "PW": str(pw),
    }
    values = {k: paths.get(v, v) for k, v in flags.items()}
    args = init_args(**{"password_file": str(pw), **values})
    line = assert_one_line_error(run_step(args, env_for(tmp_path), check=False))
    assert message in line
    assert not (tmp_path / "step").exists()


def test_dns_names_split_on_commas(tmp_path: Path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD)
    run_step(
        [*init_args(password_file=str(pw), dns="a.test, 10.0.0.1"), "--dns", "b.test"], env_for(tmp_path)
    )
    config = json.loads((tmp_path / "step" / "config" / "ca.json").read_text())
    assert config["dnsNames"] == ["a.test", "10.0.0.1", "b.test"]
