"""The tree smallstep's own `step ca init` wrote loads, decrypts and serves."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from jwcrypto import jwa, jwe, jwk

from stepca.config import (
    JWKProvisionerConfig,
    SSHPOPProvisionerConfig,
    load_ca_config,
    load_defaults,
    resolve_path,
)
from stepca.crypto import jose
from stepca.crypto.keys import WrongPasswordError, load_private_key, public_keys_equal
from stepca.db.engine import resolve_target
from tests.helpers import PKI, free_port, start_ca
from tests.pki.fixture_tree import FIXTURE_PASSWORD, copy_fixture_pki


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_fixture_pki(tmp_path_factory.mktemp("fixture") / "step")


def test_ca_json_loads_into_typed_models(tree: Path) -> None:
    config = load_ca_config(tree / "config" / "ca.json")
    assert config.root == str(tree / "certs" / "root_ca.crt")
    assert config.crt == str(tree / "certs" / "intermediate_ca.crt")
    assert config.key == str(tree / "secrets" / "intermediate_ca_key")
    assert config.address == "127.0.0.1:9443"
    assert config.dns_names == ["localhost", "127.0.0.1"]
    assert config.ssh is not None
    assert config.ssh.host_key == str(tree / "secrets" / "ssh_host_ca_key")
    assert config.ssh.user_key == str(tree / "secrets" / "ssh_user_ca_key")
    assert config.logger.format == "text"
    assert config.tls is not None and config.tls.min_version == 1.2 and config.tls.max_version == 1.3
    jwk_prov, sshpop = config.authority.provisioners
    assert isinstance(jwk_prov, JWKProvisionerConfig)
    assert jwk_prov.name == "admin@example.com"
    assert jwk_prov.claims is not None and jwk_prov.claims.enable_ssh_ca is True
    assert isinstance(sshpop, SSHPOPProvisionerConfig)
    # what stepca does not model (templates, badgerFileLoadingMode) is kept, not refused
    assert config.templates is not None and "ssh" in config.templates
    for path in (config.root, config.crt, config.key):
        assert resolve_path(path).is_file()


def test_defaults_json_loads(tree: Path) -> None:
    defaults = load_defaults(tree / "config" / "defaults.json")
    assert defaults.ca_url == "https://localhost:9443"
    assert defaults.ca_config == str(tree / "config" / "ca.json")
    assert defaults.root == str(tree / "certs" / "root_ca.crt")
    assert defaults.fingerprint == "23fd1b0d1a4511e52f824eeed9f2614e898bb3a6527a1499b3c8d23fc1010ac7"


def test_badger_db_means_the_embedded_default_with_one_warning(tree: Path) -> None:
    config = load_ca_config(tree / "config" / "ca.json")
    assert config.db is not None and config.db.type == "badgerv2"
    target = resolve_target(config.db, tree / "db" / "stepca.db")
    assert target.kind == "sqlite"
    assert target.url.database == str(tree / "db" / "stepca.db")
    assert target.warning is not None
    assert "\n" not in target.warning and "badgerv2" in target.warning


@pytest.mark.parametrize("name", ["intermediate_ca_key", "root_ca_key", "ssh_host_ca_key", "ssh_user_ca_key"])
def test_its_keys_decrypt_with_password_txt(tree: Path, name: str) -> None:
    data = (tree / "secrets" / name).read_bytes()
    assert b"Proc-Type: 4,ENCRYPTED" in data  # step's legacy encrypted PEM
    key = load_private_key(data, FIXTURE_PASSWORD.encode(), name=name)
    with pytest.raises(WrongPasswordError):
        load_private_key(data, b"not the password", name=name)
    if not name.startswith("ssh"):
        crt = x509.load_pem_x509_certificate((tree / "certs" / name.replace("_key", ".crt")).read_bytes())
        assert public_keys_equal(crt.public_key(), key.public_key())  # type: ignore[arg-type]


def test_openssl_opens_its_intermediate_key(tree: Path) -> None:
    key = tree / "secrets" / "intermediate_ca_key"
    good = subprocess.run(
        ["openssl", "pkey", "-in", key, "-passin", f"pass:{FIXTURE_PASSWORD}", "-noout"], capture_output=True
    )
    assert good.returncode == 0, good.stderr
    bad = subprocess.run(
        ["openssl", "pkey", "-in", key, "-passin", "pass:wrong", "-noout"], capture_output=True
    )
    assert bad.returncode != 0


def test_encrypted_key_decrypts_to_the_key_whose_thumbprint_is_kid(tree: Path) -> None:
    prov = json.loads((tree / "config" / "ca.json").read_text())["authority"]["provisioners"][0]
    header = jose.jwe_header(prov["encryptedKey"])
    assert header["alg"] == "PBES2-HS256+A128KW" and header["enc"] == "A256GCM"
    assert header["p2c"] == 100000  # step 0.19 wrote 100000 iterations: read from the header
    private = json.loads(jose.decrypt_with_password(prov["encryptedKey"], FIXTURE_PASSWORD.encode()))
    assert private["kid"] == prov["key"]["kid"] == jose.thumbprint(private)
    assert {k: private[k] for k in ("kty", "crv", "x", "y")} == {
        k: prov["key"][k] for k in ("kty", "crv", "x", "y")
    }
    # the same through jwcrypto (an independent implementation)
    jwa.default_max_pbkdf2_iterations = max(jwa.default_max_pbkdf2_iterations, 600_000)
    token = jwe.JWE()
    token.deserialize(prov["encryptedKey"], key=jwk.JWK.from_password(FIXTURE_PASSWORD))
    assert jwk.JWK.from_json(token.payload).thumbprint() == prov["key"]["kid"]
    with pytest.raises(WrongPasswordError):
        jose.decrypt_with_password(prov["encryptedKey"], b"wrong")


def test_step_ca_serves_the_smallstep_tree(tmp_path: Path) -> None:
    """The real server starts on smallstep's tree (its badgerv2 db becomes SQLite, with a warning)."""
    step_path = copy_fixture_pki(tmp_path / "step")
    port = free_port()
    ca_json = step_path / "config" / "ca.json"
    config = json.loads(ca_json.read_text())
    config["address"] = f"127.0.0.1:{port}"
    ca_json.write_text(json.dumps(config, indent="\t"))
    env = {**os.environ, "STEPPATH": str(step_path), "HOME": str(tmp_path)}
    env.pop("STEPDEBUG", None)
    pki = PKI(step_path=step_path, password_file=step_path / "password.txt", port=port, env=env)
    ca = start_ca(pki, workers=1)
    try:
        status, body = ca.request("GET", "/provisioners")
        assert status == 200
        assert [p["name"] for p in body["provisioners"]] == ["admin@example.com", "sshpop"]
        warnings = [line for line in ca.log().splitlines() if "badgerv2" in line]
        assert len(warnings) >= 1
        assert (step_path / "db" / "stepca.db").exists()
    finally:
        ca.stop()
