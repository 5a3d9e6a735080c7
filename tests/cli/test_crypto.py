"""`step crypto change-pass` for every kind of key file step reads, checked with openssl/ssh-keygen/jwcrypto."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwa, jwe, jwk

from stepca.crypto import jose
from tests.helpers import FIXTURES, STEP, assert_one_line_error, run_step

OLD, NEW = "old-password-1", "new-password-2"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("crypto-env")
    out = {**os.environ, "STEPPATH": str(base / "step"), "HOME": str(base)}
    out.pop("STEPDEBUG", None)
    return out


@pytest.fixture
def passwords(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, value in (("old", OLD), ("new", NEW), ("wrong", "wrong"), ("fixture", None)):
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text(
            (value if value is not None else (FIXTURES / "pki" / "password.txt").read_text()) + "\n"
        )
    return files


def _pem(key: object, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, fmt, serialization.BestAvailableEncryption(OLD.encode())
    )


def _jwk_payload() -> bytes:
    return json.dumps(jose.private_jwk(ec.generate_private_key(ec.SECP256R1()))).encode()


def _jwe_json(payload: bytes) -> bytes:
    protected, ek, iv, ct, tag = jose.encrypt_with_password(payload, OLD.encode(), p2c=100_000).split(".")
    doc = {"protected": protected, "encrypted_key": ek, "iv": iv, "ciphertext": ct, "tag": tag}
    return json.dumps(doc, indent=2).encode()


PEM_KINDS: dict[str, Callable[[], bytes]] = {
    "pkcs8-ec": lambda: _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8),
    "legacy-ec": lambda: _pem(
        ec.generate_private_key(ec.SECP384R1()), serialization.PrivateFormat.TraditionalOpenSSL
    ),
    "legacy-rsa": lambda: _pem(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        serialization.PrivateFormat.TraditionalOpenSSL,
    ),
    "pkcs8-rsa": lambda: _pem(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), serialization.PrivateFormat.PKCS8
    ),
    "pkcs8-ed25519": lambda: _pem(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8),
}


def openssl_opens(path: Path, password: str | None) -> bool:
    args = ["openssl", "pkey", "-in", str(path), "-noout"]
    args += ["-passin", f"pass:{password}"] if password is not None else ["-passin", "pass:"]
    return subprocess.run(args, capture_output=True, timeout=30).returncode == 0


def public_pem(path: Path, password: str) -> str:
    return subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", f"pass:{password}", "-pubout"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def change_pass(
    env: dict[str, str], key: Path, *args: str | Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_step(["crypto", "change-pass", str(key), *map(str, args)], env, check=check)


def assert_replaced_cleanly(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    assert leftovers == []


@pytest.mark.parametrize("kind", [*list(PEM_KINDS), "fixture-legacy-ec"])
def test_pem_keys(env: dict[str, str], tmp_path: Path, passwords: dict[str, Path], kind: str) -> None:
    key = tmp_path / "key.pem"
    if kind == "fixture-legacy-ec":
        key.write_bytes((FIXTURES / "pki" / "secrets" / "intermediate_ca_key").read_bytes())
        old_password, old_file = (FIXTURES / "pki" / "password.txt").read_text().strip(), passwords["fixture"]
    else:
        key.write_bytes(PEM_KINDS[kind]())
        old_password, old_file = OLD, passwords["old"]
    key.chmod(0o644)
    assert openssl_opens(key, old_password)
    public_before = public_pem(key, old_password)

    result = change_pass(env, key, "--password-file", old_file, "--new-password-file", passwords["new"])
    assert result.stderr.strip() == f"Your key has been saved in {key}."
    assert b"ENCRYPTED" in key.read_bytes()
    assert not openssl_opens(key, old_password)
    assert openssl_opens(key, NEW)
    assert public_pem(key, NEW) == public_before  # the same key, only re-encrypted
    assert_replaced_cleanly(key)


def test_openssh_key(env: dict[str, str], tmp_path: Path, passwords: dict[str, Path]) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", OLD, "-C", "me", "-f", key], check=True)
    public_before = (tmp_path / "id_ed25519.pub").read_text().split()[:2]
    change_pass(env, key, "--password-file", passwords["old"], "--new-password-file", passwords["new"])
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")

    def derive(password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh-keygen", "-y", "-P", password, "-f", key], capture_output=True, text=True)

    assert derive(OLD).returncode != 0
    derived = derive(NEW)
    assert derived.returncode == 0, derived.stderr
    assert derived.stdout.split()[:2] == public_before
    assert_replaced_cleanly(key)


def _jwcrypto_open(data: str, password: str) -> jwk.JWK:
    jwa.default_max_pbkdf2_iterations = max(jwa.default_max_pbkdf2_iterations, 600_000)
    token = jwe.JWE()
    token.deserialize(data.strip(), key=jwk.JWK.from_password(password))
    return jwk.JWK.from_json(token.payload)


@pytest.mark.parametrize("serialization_kind", ["compact", "json"])
def test_jwe_encrypted_jwk(
    env: dict[str, str], tmp_path: Path, passwords: dict[str, Path], serialization_kind: str
) -> None:
    payload = _jwk_payload()
    key = tmp_path / "provisioner.jwk"
    if serialization_kind == "compact":
        key.write_text(jose.encrypt_with_password(payload, OLD.encode(), p2c=100_000) + "\n")
    else:
        key.write_bytes(_jwe_json(payload))
    kid = json.loads(payload)["kid"]
    assert _jwcrypto_open(key.read_text(), OLD).thumbprint() == kid

    change_pass(env, key, "--password-file", passwords["old"], "--new-password-file", passwords["new"])
    text = key.read_text()
    if serialization_kind == "compact":
        assert text.count(".") == 4 and not text.startswith("{")
    else:
        assert set(json.loads(text)) == {"protected", "encrypted_key", "iv", "ciphertext", "tag"}
    opened = _jwcrypto_open(text, NEW)
    assert opened.thumbprint() == kid and opened.has_private
    with pytest.raises(Exception, match=r"(?i)decrypt|unwrap|invalid|fail"):
        _jwcrypto_open(text, OLD)
    # at least the iterations it had, never fewer than step's current 600000
    header = jose.jwe_header(
        text if serialization_kind == "compact" else json.loads(text)["protected"] + "...."
    )
    assert header["p2c"] >= 600_000 and header["alg"] == "PBES2-HS256+A128KW" and header["enc"] == "A256GCM"
    assert_replaced_cleanly(key)


def test_the_provisioner_key_of_ca_json(
    env: dict[str, str], tmp_path: Path, passwords: dict[str, Path]
) -> None:
    """The encryptedKey step 0.19 wrote, taken out of its ca.json, re-encrypted."""
    ca_json = json.loads((FIXTURES / "pki" / "config" / "ca.json").read_text())
    prov = ca_json["authority"]["provisioners"][0]
    key = tmp_path / "encrypted.key"
    key.write_text(prov["encryptedKey"])
    change_pass(env, key, "--password-file", passwords["fixture"], "--new-password-file", passwords["new"])
    assert _jwcrypto_open(key.read_text().strip(), NEW).thumbprint() == prov["key"]["kid"]


def test_out_leaves_the_original_and_needs_force_to_overwrite(
    env: dict[str, str], tmp_path: Path, passwords: dict[str, Path]
) -> None:
    key = tmp_path / "key.pem"
    original = PEM_KINDS["pkcs8-ec"]()
    key.write_bytes(original)
    out = tmp_path / "out.pem"
    args = ["--password-file", passwords["old"], "--new-password-file", passwords["new"], "--out", out]
    assert change_pass(env, key, *args).stderr.strip() == f"Your key has been saved in {out}."
    assert key.read_bytes() == original
    assert openssl_opens(out, NEW) and not openssl_opens(out, OLD)
    assert_replaced_cleanly(out)

    out.write_text("precious")
    line = assert_one_line_error(change_pass(env, key, *args, check=False))
    assert "already exists" in line and "--force" in line
    assert out.read_text() == "precious"
    change_pass(env, key, *args, "-f")
    assert openssl_opens(out, NEW)


def test_no_password_needs_insecure(env: dict[str, str], tmp_path: Path, passwords: dict[str, Path]) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(PEM_KINDS["legacy-ec"]())
    before = key.read_bytes()
    line = assert_one_line_error(
        change_pass(env, key, "--password-file", passwords["old"], "--no-password", check=False)
    )
    assert "--insecure" in line
    assert key.read_bytes() == before
    change_pass(env, key, "--password-file", passwords["old"], "--no-password", "--insecure")
    assert b"ENCRYPTED" not in key.read_bytes()
    assert openssl_opens(key, None)
    assert_replaced_cleanly(key)
    # an unencrypted key needs no old password to be protected again
    change_pass(env, key, "--new-password-file", passwords["new"])
    assert openssl_opens(key, NEW) and not openssl_opens(key, None)


def test_jwk_without_password_and_back(
    env: dict[str, str], tmp_path: Path, passwords: dict[str, Path]
) -> None:
    payload = _jwk_payload()
    key = tmp_path / "k.jwk"
    key.write_text(jose.encrypt_with_password(payload, OLD.encode(), p2c=100_000))
    change_pass(env, key, "--password-file", passwords["old"], "--no-password", "--insecure")
    plain = json.loads(key.read_text())
    assert plain["d"] == json.loads(payload)["d"]
    change_pass(env, key, "--new-password-file", passwords["new"])
    assert _jwcrypto_open(key.read_text(), NEW).thumbprint() == plain["kid"]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("PKCS8", ["--password-file", "WRONG", "--new-password-file", "NEW"], "wrong password"),
        ("LEGACY", ["--password-file", "WRONG", "--new-password-file", "NEW"], "wrong password"),
        ("JWE", ["--password-file", "WRONG", "--new-password-file", "NEW"], "wrong password"),
        ("PKCS8", ["--new-password-file", "NEW"], "--password-file"),  # no terminal to ask
        ("PKCS8", ["--password-file", "OLD"], "--new-password-file"),
        ("PKCS8", ["--password-file", "OLD", "--new-password-file", "EMPTY"], "cannot be empty"),
        ("PKCS8", ["--password-file", "MISSING", "--new-password-file", "NEW"], "does not exist"),
        (
            "PKCS8",
            ["--password-file", "OLD", "--new-password-file", "NEW", "--no-password", "--insecure"],
            "cannot be used together",
        ),
        ("GARBAGE", ["--password-file", "OLD", "--new-password-file", "NEW"], "not a valid private key"),
        ("PUBLIC", ["--password-file", "OLD", "--new-password-file", "NEW"], "not a valid private key"),
        ("PUBLIC_JWK", ["--password-file", "OLD", "--new-password-file", "NEW"], "public JWK"),
        ("BAD_JSON", ["--password-file", "OLD", "--new-password-file", "NEW"], "not valid JSON"),
        ("BAD_JWE", ["--password-file", "OLD", "--new-password-file", "NEW"], ""),
    ],
)
def test_bad_input_keeps_the_file(
    env: dict[str, str],
    tmp_path: Path,
    passwords: dict[str, Path],
    content: str,
    args: list[str],
    message: str,
) -> None:
    public = ec.generate_private_key(ec.SECP256R1())
    contents = {
        "PKCS8": PEM_KINDS["pkcs8-ec"],
        "LEGACY": PEM_KINDS["legacy-ec"],
        "JWE": lambda: jose.encrypt_with_password(_jwk_payload(), OLD.encode(), p2c=100_000).encode(),
        "GARBAGE": lambda: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "PUBLIC": lambda: public.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "PUBLIC_JWK": lambda: json.dumps(jose.public_jwk(public)).encode(),
        "BAD_JSON": lambda: b"{not json",
        "BAD_JWE": lambda: b"eyJhbGciOiJub25lIn0.a.b.c.d",
    }
    key = tmp_path / "key"
    key.write_bytes(contents[content]())
    before = key.read_bytes()
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    values = {
        "OLD": passwords["old"],
        "NEW": passwords["new"],
        "WRONG": passwords["wrong"],
        "EMPTY": empty,
        "MISSING": tmp_path / "missing.txt",
    }
    line = assert_one_line_error(change_pass(env, key, *[str(values.get(a, a)) for a in args], check=False))
    assert message in line
    assert key.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(("target", "message"), [("missing", "does not exist"), ("dir", "is a directory")])
def test_bad_key_paths(
    env: dict[str, str], tmp_path: Path, passwords: dict[str, Path], target: str, message: str
) -> None:
    path = tmp_path / "missing.pem" if target == "missing" else tmp_path
    line = assert_one_line_error(
        change_pass(
            env,
            path,
            "--password-file",
            passwords["old"],
            "--new-password-file",
            passwords["new"],
            check=False,
        )
    )
    assert message in line


def test_out_into_a_directory_or_missing_folder(
    env: dict[str, str], tmp_path: Path, passwords: dict[str, Path]
) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(PEM_KINDS["pkcs8-ec"]())
    base = ["--password-file", passwords["old"], "--new-password-file", passwords["new"]]
    assert "is a directory" in assert_one_line_error(
        change_pass(env, key, *base, "--out", tmp_path, check=False)
    )
    line = assert_one_line_error(
        change_pass(env, key, *base, "--out", tmp_path / "nope" / "k.pem", check=False)
    )
    assert line == f"cannot write {tmp_path / 'nope' / 'k.pem'}: directory {tmp_path / 'nope'} does not exist"


def test_prompts_on_a_terminal(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(PEM_KINDS["pkcs8-ed25519"]())
    env = {**os.environ, "STEPPATH": str(tmp_path / "step"), "HOME": str(tmp_path), "TERM": "dumb"}
    env.pop("STEPDEBUG", None)
    child = pexpect.spawn(STEP, ["crypto", "change-pass", str(key)], env=env, encoding="utf-8", timeout=60)
    child.expect("password to decrypt")
    child.sendline(OLD)
    child.expect("password to encrypt")
    child.sendline(NEW)
    child.expect("Confirm")
    child.sendline("mismatch")
    child.expect("do not match")
    child.expect("password to encrypt")
    child.sendline(NEW)
    child.expect("Confirm")
    child.sendline(NEW)
    child.expect("Your key has been saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert openssl_opens(key, NEW) and not openssl_opens(key, OLD)
