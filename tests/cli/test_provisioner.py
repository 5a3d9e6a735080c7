"""`step ca provisioner list|add|remove` on ca.json (no CA running): what is written, what is
refused, and that the file stays as readable as it was."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from stepca.crypto import jose
from stepca.crypto.keys import generate_private_key
from stepca.errors import ConfigError
from stepca.pki import config_edit
from tests.helpers import FIXTURES, PKI, STEP, assert_one_line_error, run_step

PW = "jim-password-1"


class Env:
    """A STEPPATH with a private copy of a PKI's ca.json and a defaults.json pointing at it."""

    def __init__(self, base: Path, source: Path) -> None:
        self.step_path = base / "step"
        (self.step_path / "config").mkdir(parents=True)
        self.ca_json = self.step_path / "config" / "ca.json"
        shutil.copy(source, self.ca_json)
        self.ca_json.chmod(0o600)
        (self.step_path / "config" / "defaults.json").write_text(json.dumps({"ca-config": str(self.ca_json)}))
        self.env = {"STEPPATH": str(self.step_path), "HOME": str(base), "PATH": "/usr/bin:/bin"}
        self.password_file = base / "pw.txt"
        self.password_file.write_text(PW + "\n")
        self.base = base

    def step(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_step(list(args), self.env, check=check)

    def config(self) -> dict[str, Any]:
        return json.loads(self.ca_json.read_text())

    def provs(self) -> list[dict[str, Any]]:
        return self.config()["authority"]["provisioners"]


@pytest.fixture
def env(session_pki: PKI, tmp_path: Path) -> Env:
    return Env(tmp_path, session_pki.ca_json)


def _decrypt(entry: dict[str, Any], password: str = PW) -> dict[str, Any]:
    return json.loads(jose.decrypt_with_password(entry["encryptedKey"], password.encode()))


# ------------------------------------------------------------------------------------ add JWK


def test_add_create_writes_a_jwk_provisioner_safely(env: Env) -> None:
    before = env.ca_json.read_text()
    env.ca_json.write_text(
        before.replace('\t"address"', '\t"x-unknown": {"keep": [1, 2.5, null]},\n\t"address"')
    )
    before = env.ca_json.read_text()
    out = env.step(
        "ca", "provisioner", "add", "jim@example.com", "--create", "--password-file", str(env.password_file)
    )
    assert "✔ Added provisioner: jim@example.com (JWK) [kid: " in out.stderr
    assert "SIGHUP (kill -1 <pid>)" in out.stderr
    assert PW not in out.stdout + out.stderr

    new = env.provs()[-1]
    assert list(new) == ["type", "name", "key", "encryptedKey"]
    assert new["type"] == "JWK" and new["name"] == "jim@example.com"
    assert list(new["key"]) == ["use", "kty", "kid", "crv", "alg", "x", "y"]
    assert new["key"]["kid"] == jose.thumbprint(new["key"]) and new["key"]["crv"] == "P-256"
    assert jose.jwe_header(new["encryptedKey"])["p2c"] == 600_000
    private = _decrypt(new)
    assert {k: private[k] for k in ("x", "y", "kid")} == {k: new["key"][k] for k in ("x", "y", "kid")}
    # the rest of the file is untouched: same keys in the same order, tabs, unknown fields kept
    after = env.ca_json.read_text()
    old_cfg, new_cfg = json.loads(before), json.loads(after)
    new_cfg["authority"]["provisioners"].pop()
    assert new_cfg == old_cfg and list(new_cfg) == list(old_cfg)
    assert (
        after.startswith('{\n\t"root"') and '\t"x-unknown": {\n\t\t"keep": [\n\t\t\t1,\n\t\t\t2.5,' in after
    )
    # previous version kept; both private to the owner
    assert (env.step_path / "config" / "ca.json.bak").read_text() == before
    for f in ("ca.json", "ca.json.bak"):
        assert stat.S_IMODE((env.step_path / "config" / f).stat().st_mode) == 0o600


def test_add_keeps_the_indentation_and_ending_of_the_file(env: Env) -> None:
    env.ca_json.write_text(json.dumps(env.config(), indent=2))  # spaces, no final newline
    env.step("ca", "provisioner", "add", "acme", "--type", "ACME")
    text = env.ca_json.read_text()
    assert text.startswith('{\n  "root"') and not text.endswith("\n")
    assert '\n        "type": "ACME",\n        "name": "acme"\n' in text


def test_add_then_remove_gives_back_smallsteps_file_byte_for_byte(tmp_path: Path) -> None:
    env = Env(tmp_path, FIXTURES / "pki" / "config" / "ca.json")
    original = env.ca_json.read_text()
    env.step("ca", "provisioner", "add", "acme", "--type", "ACME", "--ca-config", str(env.ca_json))
    assert env.provs()[-1] == {"type": "ACME", "name": "acme"}
    env.step("ca", "provisioner", "remove", "acme", "--type", "ACME", "--ca-config", str(env.ca_json))
    assert env.ca_json.read_text() == original


def test_add_claims_flags(env: Env) -> None:
    env.step(
        "ca",
        "provisioner",
        "add",
        "dev",
        "--type",
        "ACME",
        "--x509-min-dur",
        "5s",
        "--x509-max-dur",
        "12h",
        "--x509-default-dur",
        "2h",
        "--disable-renewal",
        "--ssh",
        "--ssh-user-min-dur",
        "1m",
        "--ssh-user-max-dur",
        "8h",
        "--ssh-user-default-dur",
        "4h",
        "--ssh-host-min-dur",
        "10m",
        "--ssh-host-max-dur",
        "720h",
        "--ssh-host-default-dur",
        "2h45m",
        "--allow-renewal-after-expiry",
    )
    assert env.provs()[-1]["claims"] == {
        "minTLSCertDuration": "5s",
        "maxTLSCertDuration": "12h0m0s",
        "defaultTLSCertDuration": "2h0m0s",
        "disableRenewal": True,
        "allowRenewalAfterExpiry": True,
        "minUserSSHCertDuration": "1m0s",
        "maxUserSSHCertDuration": "8h0m0s",
        "defaultUserSSHCertDuration": "4h0m0s",
        "minHostSSHCertDuration": "10m0s",
        "maxHostSSHCertDuration": "720h0m0s",
        "defaultHostSSHCertDuration": "2h45m0s",
        "enableSSHCA": True,
    }
    env.step("ca", "provisioner", "add", "dev2", "--type", "ACME", "--allow-renewal", "--no-ssh")
    assert env.provs()[-1]["claims"] == {"disableRenewal": False, "enableSSHCA": False}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--x509-min-dur", "48h"], "min (48h0m0s) <= default (24h0m0s)"),
        (["--x509-default-dur", "2x"], "invalid value '2x' for flag '--x509-default-dur'"),
        (["--ssh-user-max-dur", "1m"], "user ssh certificates must satisfy"),
    ],
)
def test_add_refuses_inconsistent_claims_and_writes_nothing(env: Env, args: list[str], message: str) -> None:
    before = env.ca_json.read_text()
    line = assert_one_line_error(
        env.step("ca", "provisioner", "add", "dev", "--type", "ACME", *args, check=False)
    )
    assert message in line
    assert env.ca_json.read_text() == before
    assert not (env.step_path / "config" / "ca.json.bak").exists()


def test_add_existing_keys(env: Env, tmp_path: Path) -> None:
    key = generate_private_key()
    pub = tmp_path / "jwk.pub"
    pub.write_text(json.dumps(jose.public_jwk(key)))
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    env.step(
        "ca",
        "provisioner",
        "add",
        "jane",
        "--public-key",
        str(pub),
        "--private-key",
        str(pem),
        "--password-file",
        str(env.password_file),
    )
    entry = env.provs()[-1]
    assert entry["key"] == jose.public_jwk(key)
    assert _decrypt(entry)["d"] == jose.private_jwk(key)["d"]

    # an encrypted JWE is kept as it is; a public key alone gives a provisioner without encryptedKey
    other = generate_private_key()
    jwe = jose.encrypt_with_password(json.dumps(jose.private_jwk(other)).encode(), b"other", p2c=1000)
    (tmp_path / "other.pub").write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "other.jwe").write_text(jwe)
    env.step(
        "ca",
        "provisioner",
        "add",
        "jane",
        "--public-key",
        str(tmp_path / "other.pub"),
        "--private-key",
        str(tmp_path / "other.jwe"),
    )
    assert env.provs()[-1]["encryptedKey"] == jwe
    third = generate_private_key()
    (tmp_path / "third.pub").write_text(json.dumps({**jose.public_jwk(third), "kid": "my-own-kid"}))
    env.step("ca", "provisioner", "add", "jane", "--public-key", str(tmp_path / "third.pub"))
    assert env.provs()[-1] == {
        "type": "JWK",
        "name": "jane",
        "key": {**jose.public_jwk(third), "kid": "my-own-kid"},
    }

    # a private key that does not match, the same key twice, the same key under another name
    line = assert_one_line_error(
        env.step(
            "ca",
            "provisioner",
            "add",
            "x",
            "--public-key",
            str(pub),
            "--private-key",
            str(tmp_path / "other.pub"),
            check=False,
        )
    )
    assert "is a public key" in line
    (tmp_path / "wrong.pem").write_bytes(
        generate_private_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    line = assert_one_line_error(
        env.step(
            "ca",
            "provisioner",
            "add",
            "x",
            "--public-key",
            str(pub),
            "--private-key",
            str(tmp_path / "wrong.pem"),
            "--password-file",
            str(env.password_file),
            check=False,
        )
    )
    assert "is not the private key of the public key" in line
    line = assert_one_line_error(
        env.step("ca", "provisioner", "add", "jane", "--public-key", str(pub), check=False)
    )
    assert "duplicated provisioner jane (JWK)" in line
    line = assert_one_line_error(
        env.step("ca", "provisioner", "add", "bob", "--public-key", str(pub), check=False)
    )
    assert "uses the key of authority.provisioners" in line


def test_add_oidc_as_the_guide_writes_it(env: Env) -> None:
    env.step(
        "ca",
        "provisioner",
        "add",
        "Google",
        "--type",
        "oidc",
        "--ca-config",
        str(env.ca_json),
        "--client-id",
        "1087160488420-8qt7bavg3qesdhs6it824mhnfgcfe8il.apps.googleusercontent.com",
        "--client-secret",
        "RjEk-GwKBvdsFAICiJhn_RiF",
        "--configuration-endpoint",
        "https://accounts.google.com/.well-known/openid-configuration",
        "--domain",
        "smallstep.com",
        "--domain",
        "example.com",
        "--admin",
        "max@smallstep.com",
        "--listen-address",
        "127.0.0.1:10000",
    )
    assert env.provs()[-1] == {
        "type": "OIDC",
        "name": "Google",
        "clientID": "1087160488420-8qt7bavg3qesdhs6it824mhnfgcfe8il.apps.googleusercontent.com",
        "clientSecret": "RjEk-GwKBvdsFAICiJhn_RiF",
        "configurationEndpoint": "https://accounts.google.com/.well-known/openid-configuration",
        "admins": ["max@smallstep.com"],
        "domains": ["smallstep.com", "example.com"],
        "listenAddress": "127.0.0.1:10000",
    }
    env.step(
        "ca",
        "provisioner",
        "add",
        "acme",
        "--type",
        "ACME",
        "--force-cn",
        "--require-eab",
        "--challenge",
        "http-01",
        "--challenge",
        "DNS-01",
    )
    assert env.provs()[-1] == {
        "type": "ACME",
        "name": "acme",
        "forceCN": True,
        "requireEAB": True,
        "challenges": ["http-01", "dns-01"],
    }
    env.step("ca", "provisioner", "add", "sshpop", "--type", "SSHPOP", "--ssh")
    assert env.provs()[-1] == {"type": "SSHPOP", "name": "sshpop", "claims": {"enableSSHCA": True}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jim"], "'--type JWK' needs '--create' (new key) or '--public-key FILE'"),
        (["jim", "--create", "--public-key", "x"], "flag '--create' cannot be used with '--public-key'"),
        (["jim", "--create"], "cannot prompt without a terminal: use the flag --password-file"),
        (["--create"], "the provisioner NAME is required"),
        (["g", "--type", "OIDC", "--client-id", "x"], "flag '--configuration-endpoint' is required"),
        (
            ["g", "--type", "OIDC", "--client-id", "x", "--configuration-endpoint", "ftp://x"],
            "must be an http(s) URL",
        ),
        (["g", "--type", "ACME", "--client-id", "x"], "flag '--client-id' cannot be used with '--type ACME'"),
        (["g", "--type", "ACME", "--challenge", "smtp-01"], "invalid value 'smtp-01' for flag '--challenge'"),
        (["g", "--type", "AWS"], "Invalid value for '--type'"),
        (["g", "--type", "X5C"], "flag '--x5c-roots' is required"),
    ],
)
def test_add_errors_are_one_line(env: Env, args: list[str], message: str) -> None:
    before = env.ca_json.read_text()
    line = assert_one_line_error(env.step("ca", "provisioner", "add", *args, check=False))
    assert message in line
    assert env.ca_json.read_text() == before


def test_add_needs_a_ca_config(tmp_path: Path) -> None:
    env = {"STEPPATH": str(tmp_path / "nothing"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    line = assert_one_line_error(
        run_step(["ca", "provisioner", "add", "a", "--type", "ACME"], env, check=False)
    )
    assert "flag '--ca-config' is required" in line
    line = assert_one_line_error(
        run_step(
            ["ca", "provisioner", "add", "a", "--type", "ACME", "--ca-config", str(tmp_path / "no.json")],
            env,
            check=False,
        )
    )
    assert "no.json: file does not exist" in line


def test_x5c_roots(env: Env, session_pki: PKI) -> None:
    env.step("ca", "provisioner", "add", "x5c", "--type", "X5C", "--x5c-roots", str(session_pki.root))
    import base64

    assert base64.b64decode(env.provs()[-1]["roots"]) == session_pki.root.read_bytes()


# ------------------------------------------------------------------------------------ list


def test_list_from_ca_config(env: Env) -> None:
    out = env.step("ca", "provisioner", "list", "--ca-config", str(env.ca_json)).stdout
    assert json.loads(out) == env.provs()
    assert out.startswith('[\n   {\n      "type": "JWK"')  # step's 3-space indentation


# ------------------------------------------------------------------------------------ remove


def _add_jwk(env: Env, name: str) -> str:
    env.step("ca", "provisioner", "add", name, "--create", "--password-file", str(env.password_file))
    return str(env.provs()[-1]["key"]["kid"])


def test_remove(env: Env) -> None:
    first = _add_jwk(env, "jim")
    second = _add_jwk(env, "jim")
    env.step("ca", "provisioner", "add", "jim", "--type", "ACME")
    env.step("ca", "provisioner", "add", "solo", "--type", "ACME")

    line = assert_one_line_error(env.step("ca", "provisioner", "remove", "jim", check=False))
    assert "3 provisioners match name=jim" in line and "use '--kid', '--client-id' or '--all'" in line
    # the getting-started guide's form: only --kid
    out = env.step("ca", "provisioner", "remove", "--kid", first)
    assert f"✔ Removed provisioner: jim (JWK) [kid: {first}]" in out.stderr
    assert [p["name"] for p in env.provs()] == ["admin@example.com", "jim", "jim", "solo"]
    line = assert_one_line_error(env.step("ca", "provisioner", "remove", "bob", "--kid", second, check=False))
    assert f"no provisioners with name=bob and kid={second} found" in line
    env.step("ca", "provisioner", "remove", "jim", "--type", "acme")
    env.step("ca", "provisioner", "remove", "solo")
    assert [p.get("key", {}).get("kid") for p in env.provs()][1:] == [second]
    _add_jwk(env, "jim")
    out = env.step("ca", "provisioner", "remove", "jim", "--all")
    assert out.stderr.count("✔ Removed provisioner: jim (JWK)") == 2
    assert [p["name"] for p in env.provs()] == ["admin@example.com"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "provide the provisioner NAME, '--kid' or '--client-id'"),
        (["--all"], "'--all' needs the provisioner NAME"),
        (["x", "--all", "--kid", "k"], "flags '--all' and '--kid' are mutually exclusive"),
        (["x", "--kid", "k", "--client-id", "c"], "flags '--kid' and '--client-id' are mutually exclusive"),
        (["--kid", "nope"], "no provisioners with kid=nope found"),
        (["nobody", "--all"], "no provisioners with name=nobody found"),
    ],
)
def test_remove_errors_are_one_line(env: Env, args: list[str], message: str) -> None:
    before = env.ca_json.read_text()
    line = assert_one_line_error(env.step("ca", "provisioner", "remove", *args, check=False))
    assert message in line
    assert env.ca_json.read_text() == before


def test_concurrent_edits_lose_nothing(env: Env) -> None:
    procs = [
        subprocess.Popen(
            [STEP, "ca", "provisioner", "add", f"p{i}", "--type", "ACME"],
            env=env.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for i in range(6)
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0, p.stderr.read() if p.stderr else ""
        if p.stdout and p.stderr:
            p.stdout.close()
            p.stderr.close()
    assert sorted(p["name"] for p in env.provs())[1:] == [f"p{i}" for i in range(6)]


def test_edit_never_overwrites_a_change_made_meanwhile(env: Env) -> None:
    with (
        pytest.raises(ConfigError, match="changed by another program while editing"),
        config_edit.edit(env.ca_json) as doc,
    ):
        doc.provisioners.append({"type": "ACME", "name": "mine"})
        env.ca_json.write_text(env.ca_json.read_text().replace('"admin@example.com"', '"renamed"'))
    assert [p["name"] for p in env.provs()] == ["renamed"]


def test_help_documents_every_command() -> None:
    out = subprocess.run(
        [STEP, "ca", "provisioner", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for word in ("list", "add", "remove", "kill -HUP", "--ca-config"):
        assert word in out
    add = subprocess.run(
        [STEP, "ca", "provisioner", "add", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--create",
        "--public-key",
        "--private-key",
        "--password-file",
        "--client-id",
        "--client-secret",
        "--configuration-endpoint",
        "--domain",
        "--admin",
        "--listen-address",
        "--x509-min-dur",
        "--x509-max-dur",
        "--x509-default-dur",
        "--disable-renewal / --allow-renewal",
        "--ssh / --no-ssh",
        "--ssh-user-min-dur",
        "--ssh-host-default-dur",
        "--ca-config",
        "ca.json.bak",
    ):
        assert flag in add, flag
    rm = subprocess.run(
        [STEP, "ca", "provisioner", "remove", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--kid", "--all", "--client-id", "--type", "--ca-config"):
        assert flag in rm
