"""Single sign-on end to end: our `step` logs in at the real OpenID Provider through browser.py
(the person at the browser) and gets X.509 and SSH certificates from a real `step-ca`; the SSH
certificate logs in to a real sshd and goes into a real ssh-agent."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.helpers import CAProcess, assert_one_line_error, run_step, start_ca
from tests.oidc.harness import OpenIDProvider
from tests.oidc.test_provisioner import pki_with_oidc
from tests.oidc.tokens import claims as jwt_claims
from tests.ssh.conftest import LOGIN_USER, SSHServer, agent, sshd_factory

_ = (agent, sshd_factory)  # the fixtures, imported for this module
BROWSER = f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).parent / 'browser.py'))}"


@pytest.fixture(scope="module")
def sso_ca(openid_provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CAProcess]:
    pki = pki_with_oidc(tmp_path_factory.mktemp("sso-ca"), openid_provider)
    ca = start_ca(pki, workers=1, env=openid_provider.env(pki.env))
    yield ca
    ca.stop()


def as_person(
    ca: CAProcess, op: OpenIDProvider, tmp_path: Path, user: str = "alice@example.com"
) -> dict[str, str]:
    env = op.env(ca.pki.env)
    env.update(
        BROWSER=BROWSER,
        OIDC_TEST_BROWSER_MODE="normal",
        OIDC_TEST_USER=user,
        OIDC_TEST_PASSWORD=op.users[user].password,
        OIDC_TEST_BROWSER_LOG=str(tmp_path / "browser.log"),
    )
    return env


def login_error(out: subprocess.CompletedProcess[str]) -> str:
    """A refused login: non-zero exit, no traceback, the error on the last stderr line (after the
    login's progress lines)."""
    assert out.returncode != 0, out
    assert "Traceback" not in out.stderr and out.stdout == ""
    return out.stderr.strip().splitlines()[-1]


def test_step_ca_certificate_with_a_browser_login(
    sso_ca: CAProcess, openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    env = as_person(sso_ca, openid_provider, tmp_path)
    out = run_step(
        ["ca", "certificate", "alice@example.com", "personal.crt", "personal.key", "--provisioner", "corp"],
        env, cwd=tmp_path,
    )  # fmt: skip
    assert "Key ID: step-cli (corp)" in out.stderr
    assert "Your default web browser has been opened" in out.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "personal.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in sans] == ["alice@example.com", f"{openid_provider.issuer}#alice"]
    assert cert.subject.rfc4514_string() == "CN=alice"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(sso_ca.pki.root), "-untrusted", str(sso_ca.pki.intermediate),
         str(tmp_path / "personal.crt")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    inspect = run_step(["certificate", "inspect", "--short", "personal.crt"], env, cwd=tmp_path).stdout
    assert "Provisioner: corp" in inspect and "Subject:     alice" in inspect
    assert oct((tmp_path / "personal.key").stat().st_mode & 0o777) == "0o600"


def test_the_seed_s_two_argument_form(
    sso_ca: CAProcess, openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    """`step ca certificate personal.crt personal.key` as the seed writes it: the login names the subject."""
    env = as_person(sso_ca, openid_provider, tmp_path)
    run_step(
        ["ca", "certificate", "personal.crt", "personal.key", "--provisioner", "corp"], env, cwd=tmp_path
    )
    cert = x509.load_pem_x509_certificate((tmp_path / "personal.crt").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=alice"


def test_a_refused_login_is_one_line_with_the_reason(
    sso_ca: CAProcess, openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    env = as_person(sso_ca, openid_provider, tmp_path, "bob@other.org")
    out = run_step(
        ["ca", "certificate", "bob@other.org", "b.crt", "b.key", "--provisioner", "corp"], env, cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert "bob@other.org is not allowed" in login_error(out)
    assert not (tmp_path / "b.crt").exists() and not (tmp_path / "b.key").exists()
    env = as_person(sso_ca, openid_provider, tmp_path)
    env["OIDC_TEST_BROWSER_MODE"] = "deny"
    out = run_step(
        ["ca", "certificate", "alice@example.com", "a.crt", "a.key", "--provisioner", "corp"], env, cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert "consent was denied" in login_error(out)


def test_step_ca_token_prints_the_id_token(
    sso_ca: CAProcess, openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    env = as_person(sso_ca, openid_provider, tmp_path)
    token = run_step(
        ["ca", "token", "alice@example.com", "--provisioner", "corp"], env, cwd=tmp_path
    ).stdout.strip()
    c = jwt_claims(token)
    assert c["aud"] == "step-cli" and c["email"] == "alice@example.com" and c["iss"] == openid_provider.issuer
    # usable once with --token
    run_step(
        ["ca", "certificate", "alice@example.com", "t.crt", "t.key", "--token", token], env, cwd=tmp_path
    )
    again = run_step(["ca", "certificate", "alice@example.com", "u.crt", "u.key", "--token", token], env,
                     cwd=tmp_path, check=False)  # fmt: skip
    assert "token already used" in assert_one_line_error(again)


def test_an_oidc_ssh_certificate_logs_in_to_sshd(
    sso_ca: CAProcess, openid_provider: OpenIDProvider, sshd_factory: object, tmp_path: Path
) -> None:
    env = as_person(sso_ca, openid_provider, tmp_path)
    run_step(
        ["ssh", "certificate", "alice@example.com", "id_alice", "--provisioner", "corp", "--no-password", "--insecure"],
        env, cwd=tmp_path,
    )  # fmt: skip
    info = subprocess.run(["ssh-keygen", "-L", "-f", str(tmp_path / "id_alice-cert.pub")], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert 'Key ID: "alice@example.com"' in info and "alice@example.com" in info
    # sshd: the CA's user key is trusted, and the login user accepts the principal "alice"
    (tmp_path / "user_ca.pub").write_text(run_step(["ssh", "config", "--roots"], env).stdout)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "host_key")], check=True
    )
    principals = tmp_path / "principals"
    principals.mkdir()
    (principals / LOGIN_USER).write_text("alice\n")
    sshd: SSHServer = sshd_factory(  # type: ignore[operator]
        tmp_path / "host_key", tmp_path / "user_ca.pub", None,
        extra_lines=(f"AuthorizedPrincipalsFile {principals}/%u",),
    )  # fmt: skip
    result = sshd.ssh(tmp_path / "id_alice")
    assert result.returncode == 0, result.stderr + sshd.log.read_text()
    assert "ID alice@example.com" in sshd.log.read_text()
    # the same sshd refuses a principal the login does not prove
    (principals / LOGIN_USER).write_text("mallory\n")
    refused = sshd.ssh(tmp_path / "id_alice")
    assert refused.returncode != 0


def test_step_ssh_login_puts_the_certificate_in_the_agent(
    sso_ca: CAProcess, openid_provider: OpenIDProvider, agent: str, tmp_path: Path
) -> None:
    env = {**as_person(sso_ca, openid_provider, tmp_path), "SSH_AUTH_SOCK": agent}
    out = run_step(["ssh", "login", "--provisioner", "corp"], env, cwd=tmp_path)
    assert "SSH Agent: yes" in out.stderr
    listed = subprocess.run(["ssh-add", "-l"], env=env, capture_output=True, text=True).stdout
    assert "alice@example.com (ECDSA-CERT)" in listed, listed
    run_step(["ssh", "logout", "alice@example.com"], env, cwd=tmp_path)
    assert (
        "no identities" in subprocess.run(["ssh-add", "-l"], env=env, capture_output=True, text=True).stdout
    )


def test_the_seed_s_provisioner_add_then_reload_then_login(
    openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    """The seed's section as an operator runs it: `step ca provisioner add Google --type oidc ...`,
    SIGHUP, then `step ca certificate` with the login; `step ca provisioner list` shows the entry."""
    from tests.helpers import STEP, make_pki
    from tests.pty_session import ARROW_DOWN, PtySession
    from tests.server.test_reload import sighup

    (tmp_path / "ca").mkdir()
    pki = make_pki(tmp_path / "ca")
    ca = start_ca(pki, workers=1, env=openid_provider.env(pki.env))
    try:
        env = as_person(ca, openid_provider, tmp_path)
        run_step(
            ["ca", "provisioner", "add", "Google", "--type", "oidc", "--ca-config", str(pki.ca_json),
             "--client-id", "step-cli", "--client-secret", "step-cli-secret",
             "--configuration-endpoint", openid_provider.discovery_url,
             "--domain", "example.com", "--domain", "example.org"],
            env,
        )  # fmt: skip
        assert sighup(ca) == "reloaded"
        listed = run_step(["ca", "provisioner", "list"], env).stdout
        assert '"name": "Google"' in listed and '"clientID": "step-cli"' in listed
        # as the seed shows it: no flag, the arrow-key picker lists "(Google)" after the JWK key
        picker = PtySession(
            [STEP, "ca", "certificate", "personal.crt", "personal.key"], env, cwd=str(tmp_path)
        )
        picker.expect("What provisioner key do you want to use?")
        picker.expect(r"step-cli \(Google\)")
        picker.send(ARROW_DOWN)
        picker.sendline()
        assert picker.wait(60) == 0, picker.text
        for line in (
            "✔ Key ID: step-cli (Google)",
            "✔ Certificate: personal.crt",
            "✔ Private Key: personal.key",
        ):
            assert line in picker.text, picker.text
        inspect = run_step(["certificate", "inspect", "--short", "personal.crt"], env, cwd=tmp_path).stdout
        assert "Provisioner: Google" in inspect and "Subject:     alice" in inspect
    finally:
        ca.stop()
