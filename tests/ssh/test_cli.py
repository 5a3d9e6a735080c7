"""`step ssh ...` and `step ca token --ssh` against a real step-ca, checked with ssh-keygen."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import urllib.request
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from stepca.crypto.jose import CompactJWS
from stepca.crypto.sshcert import authorized_line, blob_from_line, certificate_from_blob
from tests.helpers import FIXTURES, PKI, assert_one_line_error, free_port, run_step, start_ca
from tests.pki.fixture_tree import copy_fixture_pki
from tests.ssh.conftest import SSHCA, new_key

FIXTURE_CLI = FIXTURES / "cli"


def step(ssh_ca: SSHCA, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_step(list(args), ssh_ca.pki.env, cwd=cwd, check=check)


def keygen_list(path: Path) -> list[str]:
    env = {**os.environ, "TZ": "UTC"}  # times without DST jumps
    out = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True, env=env
    )
    return out.stdout.splitlines()


def keygen_fingerprint(key_line: str, tmp_path: Path) -> str:
    file = tmp_path / "fp.pub"
    file.write_text(key_line)
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(file)], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def valid_seconds(line: str) -> float:
    """The span of an ssh-keygen ``Valid: from X to Y`` line."""
    valid = re.match(r"\s+Valid: from (\S+) to (\S+)$", line)
    assert valid is not None, line
    start, end = (datetime.fromisoformat(v) for v in valid.groups())
    return (end - start).total_seconds()


def serial_of(path: Path) -> int:
    return certificate_from_blob(blob_from_line(path.read_bytes())).serial


def test_user_certificate_as_smallstep(ssh_ca: SSHCA, tmp_path: Path) -> None:
    pw = str(ssh_ca.pki.password_file)
    out = step(
        ssh_ca, "ssh", "certificate", "alice@example.com", "id_alice",
        "--provisioner", "admin@example.com", "--provisioner-password-file", pw, "--no-password", "--insecure", cwd=tmp_path,
    )  # fmt: skip
    # the same lines, in the same order, as smallstep's step (fixture cli/ssh_certificate.log)
    expected = (FIXTURE_CLI / "ssh_certificate.log").read_text()
    expected = re.sub(r"\[kid: [^]]+\]", f"[kid: {ssh_ca.pki.provisioner()['key']['kid']}]", expected)
    assert out.stderr == expected.replace("https://localhost:9443", ssh_ca.ca.url)
    assert (tmp_path / "id_alice").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "id_alice").read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert (tmp_path / "id_alice.pub").read_text().endswith(" alice@example.com\n")
    assert (
        (tmp_path / "id_alice-cert.pub").read_text().startswith("ecdsa-sha2-nistp256-cert-v01@openssh.com ")
    )
    # the private key opens with ssh-keygen and matches the public key file
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(tmp_path / "id_alice")], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    assert derived == (tmp_path / "id_alice.pub").read_text().split()[:2]

    listing = keygen_list(tmp_path / "id_alice-cert.pub")
    reference = (FIXTURE_CLI / "ssh_keygen_L_user_cert.txt").read_text().splitlines()
    # type, key id, principals, critical options and extensions as in smallstep's certificate
    for index in (1, 4, *range(7, len(reference))):
        assert listing[index] == reference[index]
    user_ca = run_step(["ssh", "config", "--roots"], ssh_ca.pki.env).stdout
    assert (
        listing[3]
        == f"        Signing CA: ECDSA {keygen_fingerprint(user_ca, tmp_path)} (using ecdsa-sha2-nistp256)"
    )
    assert valid_seconds(listing[6]) == 16 * 3600 + 60

    # step ssh inspect prints what ssh-keygen -L prints (then the signature)
    utc = {**ssh_ca.pki.env, "TZ": "UTC"}
    inspect = run_step(["ssh", "inspect", str(tmp_path / "id_alice-cert.pub")], utc).stdout.splitlines()
    assert inspect[: len(listing)] == listing
    assert inspect[len(listing)] == "        Signature:"
    doc = json.loads(
        run_step(
            ["ssh", "inspect", "--format", "json", str(tmp_path / "id_alice-cert.pub")], ssh_ca.pki.env
        ).stdout
    )
    assert (doc["Type"], doc["KeyID"], doc["Principals"]) == (
        "user",
        "alice@example.com",
        ["alice", "alice@example.com"],
    )
    assert doc["Serial"] == serial_of(tmp_path / "id_alice-cert.pub")


def test_host_certificate_for_an_existing_key(ssh_ca: SSHCA, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host")], check=True)
    before = (tmp_path / "host").read_bytes()
    out = step(
        ssh_ca, "ssh", "certificate", "--host", "--sign", "web.example.com", "host.pub",
        "--provisioner", "admin@example.com", "--provisioner-password-file", str(ssh_ca.pki.password_file), "--not-after", "48h", cwd=tmp_path,
    )  # fmt: skip
    assert out.stderr.splitlines()[-1] == "✔ Certificate: host-cert.pub"
    assert (tmp_path / "host").read_bytes() == before  # --sign leaves the key pair alone
    listing = keygen_list(tmp_path / "host-cert.pub")
    assert listing[1] == "        Type: ssh-ed25519-cert-v01@openssh.com host certificate"
    assert valid_seconds(listing[6]) == 48 * 3600 + 60  # --not-after 48h, backdated one minute
    assert listing[7:] == [
        "        Principals: ",
        "                web.example.com",
        "        Critical Options: (none)",
        "        Extensions: (none)",
    ]
    host_ca = run_step(["ssh", "config", "--roots", "--host"], ssh_ca.pki.env).stdout
    assert host_ca == (ssh_ca.pki.step_path / "certs" / "ssh_host_ca_key.pub").read_text()
    assert keygen_fingerprint(host_ca, tmp_path) in listing[3]


def test_ca_token_ssh(ssh_ca: SSHCA, tmp_path: Path) -> None:
    pw = str(ssh_ca.pki.password_file)
    token = run_step(
        [
            "ca",
            "token",
            "--ssh",
            "--host",
            "db.internal",
            "--provisioner",
            "admin@example.com",
            "--provisioner-password-file",
            pw,
        ],
        ssh_ca.pki.env,
    ).stdout.strip()
    claims = CompactJWS(token).claims()
    assert claims["aud"] == f"{ssh_ca.ca.url}/1.0/ssh/sign"
    assert claims["step"] == {
        "ssh": {
            "certType": "host",
            "keyID": "db.internal",
            "principals": ["db.internal"],
            "validAfter": "",
            "validBefore": "",
        }
    }
    args = ["ssh", "certificate", "--token", token, "db.internal", "db_key", "--no-password", "--insecure"]
    step(ssh_ca, *args, cwd=tmp_path)
    assert "host certificate" in keygen_list(tmp_path / "db_key-cert.pub")[1]
    again = step(ssh_ca, *args, "-f", cwd=tmp_path, check=False)
    assert "token already used" in assert_one_line_error(again)

    revoke = run_step(
        [
            "ca",
            "token",
            "--ssh",
            "--revoke",
            "123",
            "--provisioner",
            "admin@example.com",
            "--provisioner-password-file",
            pw,
        ],
        ssh_ca.pki.env,
    )
    assert CompactJWS(revoke.stdout.strip()).claims()["aud"] == f"{ssh_ca.ca.url}/1.0/ssh/revoke"


def test_config(ssh_ca: SSHCA, tmp_path: Path) -> None:
    env = ssh_ca.pki.env
    user_ca = (ssh_ca.pki.step_path / "certs" / "ssh_user_ca_key.pub").read_text()
    assert run_step(["ssh", "config", "--roots"], env).stdout == user_ca
    assert run_step(["ssh", "config", "--federation"], env).stdout == user_ca

    dry = run_step(
        [
            "ssh",
            "config",
            "--host",
            "--dry-run",
            "--set",
            "Certificate=ssh_host_ecdsa_key-cert.pub",
            "--set",
            "Key=ssh_host_ecdsa_key",
        ],
        env,
    ).stdout
    reference = (FIXTURE_CLI / "ssh_config_host_dryrun.txt").read_text()
    fixture_key = (FIXTURES / "pki" / "certs" / "ssh_user_ca_key.pub").read_text().strip()
    assert dry == reference.replace(fixture_key, user_ca.strip())

    home = Path(env["HOME"])
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "config").write_text("Host old\n\tUser me\n")
    out = run_step(["ssh", "config", "--set", "User=deploy"], env)
    steppath = ssh_ca.pki.step_path
    assert out.stderr.splitlines() == [
        f"✔ {home}/.ssh/config",
        f"✔ {steppath}/ssh/includes",
        f"✔ {steppath}/ssh/config",
        f"✔ {steppath}/ssh/known_hosts",
    ]
    run_step(["ssh", "config", "--set", "User=deploy"], env)  # again: the snippet is replaced, not added
    ssh_config = (home / ".ssh" / "config").read_text()
    assert ssh_config.startswith("Host old\n\tUser me\n# autogenerated by step @ ")
    assert ssh_config.count("# autogenerated by step") == 1
    assert ssh_config.endswith(f'Host *\n\tInclude "{steppath}/ssh/includes"\n# end\n')
    assert (steppath / "ssh" / "includes").read_text() == f'Include "{steppath}/ssh/config"\n'
    assert "\tUser deploy\n" in (steppath / "ssh" / "config").read_text()
    host_ca = (steppath / "certs" / "ssh_host_ca_key.pub").read_text()
    assert (steppath / "ssh" / "known_hosts").read_text() == f"@cert-authority * {host_ca}"


def test_renew_and_revoke(ssh_ca: SSHCA, tmp_path: Path) -> None:
    pw = str(ssh_ca.pki.password_file)
    step(
        ssh_ca,
        "ssh",
        "certificate",
        "--host",
        "--provisioner",
        "admin@example.com",
        "--provisioner-password-file",
        pw,
        "--password-file",
        pw,
        "app.example.com",
        "app",
        cwd=tmp_path,
    )
    assert "ENCRYPTED" not in (tmp_path / "app").read_text()  # OpenSSH format, bcrypt-encrypted
    assert (
        subprocess.run(
            ["ssh-keygen", "-y", "-P", "", "-f", str(tmp_path / "app")], capture_output=True
        ).returncode
        != 0
    )
    first = serial_of(tmp_path / "app-cert.pub")

    out = step(ssh_ca, "ssh", "renew", "app-cert.pub", "app", "--password-file", pw, "-f", cwd=tmp_path)
    assert out.stderr.strip() == "✔ Certificate: app-cert.pub"
    renewed = serial_of(tmp_path / "app-cert.pub")
    assert renewed != first
    assert keygen_list(tmp_path / "app-cert.pub")[8] == "                app.example.com"

    out = step(
        ssh_ca,
        "ssh",
        "revoke",
        "--sshpop-cert",
        "app-cert.pub",
        "--sshpop-key",
        "app",
        "--password-file",
        pw,
        cwd=tmp_path,
    )
    assert out.stderr.strip() == f"SSH Certificate with Serial Number {renewed} has been revoked."
    refused = step(
        ssh_ca, "ssh", "renew", "app-cert.pub", "app", "--password-file", pw, "-f", cwd=tmp_path, check=False
    )
    assert f"certificate with serial number {renewed} has been revoked" in assert_one_line_error(refused)

    out = step(
        ssh_ca,
        "ssh",
        "revoke",
        str(first),
        "--provisioner",
        "admin@example.com",
        "--provisioner-password-file",
        pw,
        "--reasonCode",
        "superseded",
        cwd=tmp_path,
    )
    assert out.stderr.strip().endswith(f"SSH Certificate with Serial Number {first} has been revoked.")


def test_one_line_errors(ssh_ca: SSHCA, tmp_path: Path) -> None:
    user_key = new_key()
    status, body = ssh_ca.sign(user_key, ssh_ca.token("alice@example.com"))
    assert status == 201, body
    (tmp_path / "user").write_bytes(
        user_key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    )
    (tmp_path / "user-cert.pub").write_text(authorized_line(base64.b64decode(body["crt"])))
    cases = [
        (["ssh", "certificate", "a@b.c", "k", "--no-password"], "requires the '--insecure' flag"),
        (["ssh", "certificate", "a@b.c", "k"], "--password-file"),  # no terminal to ask for the key password
        (["ssh", "certificate", "--sign", "a@b.c", "missing.pub", "--token", "x.y.z"], "missing.pub"),
        (["ssh", "inspect", str(FIXTURES / "leaf" / "id_alice.pub")], "not an SSH certificate"),
        (["ssh", "inspect", "nowhere-cert.pub"], "does not exist"),
        (["ssh", "config", "--roots", "--set", "a=b"], "incompatible with '--set'"),
        (["ssh", "config", "--host", "--dry-run"], "required variable 'Certificate' is missing"),
        (["ssh", "config", "--set", "novalue"], "is not KEY=VALUE"),
        (["ssh", "revoke"], "serial number to revoke is required"),
        (
            ["ssh", "renew", "user-cert.pub", "user", "--out", "new-cert.pub"],
            "must be a host ssh certificate",
        ),
        (["ssh", "renew", "user-cert.pub", str(FIXTURES / "leaf" / "id_alice")], "is not the private key of"),
        (
            ["ssh", "certificate", "a@b.c", "k", "--not-after", "later", "--no-password", "--insecure"],
            "flag --not-after",
        ),
    ]
    for args, message in cases:
        result = step(ssh_ca, *args, cwd=tmp_path, check=False)
        assert message in assert_one_line_error(result), (args, result.stderr)
    check = step(ssh_ca, "ssh", "check-host", "nothing.example.com", cwd=tmp_path, check=False)
    assert (check.returncode, check.stdout) == (1, "false\n")


def test_check_host_and_hosts(ssh_ca: SSHCA, tmp_path: Path) -> None:
    pw = str(ssh_ca.pki.password_file)
    step(
        ssh_ca,
        "ssh",
        "certificate",
        "--host",
        "--provisioner",
        "admin@example.com",
        "--provisioner-password-file",
        pw,
        "--no-password",
        "--insecure",
        "cli-host.example.com",
        "h",
        cwd=tmp_path,
    )
    assert step(ssh_ca, "ssh", "check-host", "cli-host.example.com", cwd=tmp_path).stdout == "true\n"
    assert "cli-host.example.com" in step(ssh_ca, "ssh", "hosts", cwd=tmp_path).stdout.splitlines()


def test_roots_line_format() -> None:
    """Our key lines are what smallstep prints (fixture cli/ssh_config_roots.txt)."""
    line = (FIXTURE_CLI / "ssh_config_roots.txt").read_text()
    assert authorized_line(blob_from_line(line.encode())) == line
    assert base64.b64encode(blob_from_line(line.encode())).decode() in line


def test_smallstep_tree(tmp_path: Path) -> None:
    """step-ca on the tree smallstep's step made serves its SSH bodies byte for byte, and our
    `step ssh certificate` prints and issues what smallstep's did (same CA key, same lines)."""
    step_path = copy_fixture_pki(tmp_path / "step")
    port = free_port()
    for name, key, value in (
        ("ca.json", "address", f"127.0.0.1:{port}"),
        ("defaults.json", "ca-url", f"https://localhost:{port}"),
    ):
        path = step_path / "config" / name
        path.write_text(json.dumps({**json.loads(path.read_text()), key: value}, indent="\t"))
    env = {**os.environ, "STEPPATH": str(step_path), "HOME": str(tmp_path)}
    pki = PKI(step_path=step_path, password_file=step_path / "password.txt", port=port, env=env)
    ca = start_ca(pki, workers=1)
    try:
        for path, fixture in (
            ("/ssh/roots", "GET_ssh_roots.json"),
            ("/1.0/ssh/federation", "GET_ssh_federation.json"),
        ):
            with urllib.request.urlopen(ca.url + path, context=ca.ssl_context(), timeout=10) as resp:
                assert resp.read().decode() == (FIXTURES / "api" / fixture).read_text().strip()
        dry = run_step(
            [
                "ssh",
                "config",
                "--host",
                "--dry-run",
                "--set",
                "Certificate=ssh_host_ecdsa_key-cert.pub",
                "--set",
                "Key=ssh_host_ecdsa_key",
            ],
            env,
        )
        assert dry.stdout == (FIXTURE_CLI / "ssh_config_host_dryrun.txt").read_text()
        assert (
            run_step(["ssh", "config", "--roots"], env).stdout
            == (FIXTURE_CLI / "ssh_config_roots.txt").read_text()
        )

        args = [
            "ssh",
            "certificate",
            "alice@example.com",
            "id_alice",
            "--provisioner-password-file",
            str(pki.password_file),
        ]
        out = run_step([*args, "--no-password", "--insecure"], env, cwd=tmp_path)
        assert out.stderr == (FIXTURE_CLI / "ssh_certificate.log").read_text().replace(
            "https://localhost:9443", ca.url
        )
        reference = (FIXTURE_CLI / "ssh_keygen_L_user_cert.txt").read_text().splitlines()
        listing = keygen_list(tmp_path / "id_alice-cert.pub")
        assert [listing[i] for i in (1, 3, 4, *range(7, len(reference)))] == [
            reference[i] for i in (1, 3, 4, *range(7, len(reference)))
        ]
    finally:
        ca.stop()


def test_template_outputs_by_type(tmp_path: Path) -> None:
    """How `step ssh config` writes each template type (the defaults use file, snippet and
    prepend-line; fullSnippet and directory come from custom templates)."""
    from stepca.cli.ssh import _write_template

    target = tmp_path / "sub" / "sshd_config"
    target.parent.mkdir()
    target.write_text("Port 22\n# BEGIN x\nold\n# END x\nUsePAM yes")
    _write_template(target, "fullSnippet", b"# BEGIN x\nnew\n# END x", "#")
    assert target.read_text() == "Port 22\n# BEGIN x\nnew\n# END x\nUsePAM yes"
    _write_template(tmp_path / "other", "fullSnippet", b"# BEGIN y\nv\n# END y", "#")
    assert (tmp_path / "other").read_text() == "# BEGIN y\nv\n# END y\n"
    _write_template(tmp_path / "d" / "e", "directory", b"", "#")
    assert (tmp_path / "d" / "e").is_dir()
    _write_template(tmp_path / "lines", "prepend-line", b"Include a\n", "#")
    _write_template(tmp_path / "lines", "prepend-line", b"Include a\n", "#")
    assert (tmp_path / "lines").read_text() == "Include a\n"
    _write_template(target, "snippet", b"Match all\n\tHostKey k", "#")  # appended: Match blocks go last
    stamp = r"# autogenerated by step @ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n"
    assert re.fullmatch(
        r".*UsePAM yes\n" + stamp + r"Match all\n\tHostKey k\n# end\n", target.read_text(), re.S
    )
    assert oct(target.stat().st_mode & 0o777) == "0o600"
