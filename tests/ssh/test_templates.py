"""SSH configuration templates: our Go-template subset, the defaults, and smallstep's own files."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stepca.authority.gotemplate import Template, TemplateError
from stepca.authority.ssh_issuer import SSHKeyValue
from stepca.authority.ssh_templates import load_ssh_templates
from stepca.crypto.sshcert import blob_from_line
from tests.helpers import FIXTURES, STEP_CA
from tests.pki.fixture_tree import copy_fixture_pki

PKI = FIXTURES / "pki"


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("a {{ .X }} b", {"X": "1"}, "a 1 b"),
        ("a  {{- .X -}}  b", {"X": "1"}, "a1b"),
        ("{{ .M.K }}|{{ .M.Missing }}|{{ .Nil.Deep }}", {"M": {"K": "v"}, "Nil": None}, "v||"),
        ("{{ if .X }}yes{{ else if .Y }}maybe{{ else }}no{{ end }}", {"X": "", "Y": "1"}, "maybe"),
        ('{{ if or .A "none" | eq "windows" }}w{{ else }}u{{ end }}', {"A": ""}, "u"),
        ('{{ if or .A "none" | eq "windows" }}w{{ else }}u{{ end }}', {"A": "windows"}, "w"),
        ("{{ range .L }}[{{ . }}]{{ else }}empty{{ end }}", {"L": ["a", "b"]}, "[a][b]"),
        ("{{ range .L }}[{{ . }}]{{ else }}empty{{ end }}", {"L": []}, "empty"),
        ("{{ with .W }}<{{ .N }}>{{ end }}", {"W": {"N": "n"}}, "<n>"),
        ("{{ range .L }}{{ $.P }}{{ . }} {{ end }}", {"L": [1, 2], "P": "#"}, "#1 #2 "),
        ('{{ .S | replace "\\\\" "/" | trimPrefix "C:" }}', {"S": "C:\\Users\\me"}, "/Users/me"),
        ("{{ .B | toString | b64enc }}", {"B": b"\x00\xff"}, "AP8="),
        ('{{ lower "AB" }}{{ upper "cd" }}{{ quote "q" }}{{ default "d" .E }}', {"E": ""}, 'abCD"q"d'),
        (
            '{{ join "," .L }} {{ not .T }} {{ and 1 0 }} {{ ne 1 2 }}',
            {"L": ["x", "y"], "T": True},
            "x,y false 0 true",
        ),
        ('{{/* a comment */}}{{ (lower "X") | upper }}', None, "X"),
    ],
)
def test_go_template_subset(source: str, data: Any, expected: str) -> None:
    assert Template("t", source).render(data).decode() == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ if .X }}open", "{{if}} is not closed"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ $x := 1 }}", "is not supported"),
        ('{{ template "x" }}', "is not supported"),
        ("{{ nofunc .X }}", 'function "nofunc" not defined'),
        ("{{ .X", "unclosed action"),
        ("{{ else }}", "unexpected {{else}}"),
    ],
)
def test_unsupported_or_broken_templates_are_refused(source: str, message: str) -> None:
    with pytest.raises(
        TemplateError, match="template t: .*" + message.replace("{", r"\{").replace("}", r"\}")
    ):
        Template("t", source)


def test_execution_errors_name_the_template() -> None:
    with pytest.raises(TemplateError, match="error executing template t: can't evaluate field Nope"):
        Template("t", "{{ .K.Nope }}").render({"K": SSHKeyValue(b"\x00\x00\x00\x01x")})


def _fixture_data(user: dict[str, str]) -> dict[str, Any]:
    keys = {k: blob_from_line((PKI / "certs" / f"ssh_{k}_ca_key.pub").read_bytes()) for k in ("user", "host")}
    return {
        "Step": {
            "SSH": {
                "UserKey": SSHKeyValue(keys["user"]),
                "HostKey": SSHKeyValue(keys["host"]),
                "UserFederatedKeys": [],
                "HostFederatedKeys": [],
            }
        },
        "User": user,
    }


@pytest.mark.parametrize("goos", ["linux", "windows"])
def test_defaults_render_like_smallstep_files(goos: str) -> None:
    """Our built-in templates are the files smallstep's `step ca init --ssh` writes: both
    render the same, from the fixture ca.json's templates block and from no block at all."""
    block = json.loads((PKI / "config" / "ca.json").read_text())["templates"]
    theirs, ours = load_ssh_templates(block, PKI), load_ssh_templates(None, Path("/nonexistent"))
    for kind, user in (
        (
            "user",
            {"GOOS": goos, "StepPath": "C:\\Users\\a\\.step", "User": "a", "StepSSHTemplateVersion": "v2"},
        ),
        ("host", {"GOOS": goos, "Certificate": "c.pub", "Key": "k"}),
    ):
        data = _fixture_data(user)
        mine = [t.output(data, user) for t in getattr(ours, kind)]
        assert mine == [t.output(data, user) for t in getattr(theirs, kind)]
    host = {"Certificate": "ssh_host_ecdsa_key-cert.pub", "Key": "ssh_host_ecdsa_key"}
    rendered = "".join(
        f"{o['path']}\n{base64.b64decode(o['content']).decode()}\n"
        for o in (t.output(_fixture_data(host), host) for t in ours.host)
    )
    assert rendered == (FIXTURES / "cli" / "ssh_config_host_dryrun.txt").read_text()
    includes = next(t for t in ours.user if t.name == "step_includes.tpl")
    windows = {"GOOS": "windows", "StepPath": "C:\\Users\\a\\.step"}
    assert (
        base64.b64decode(includes.output(_fixture_data(windows), windows)["content"])
        == b'Include "/Users/a/.step/ssh/config"'
    )


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ([], "templates: must be an object"),
        ({"data": {"Step": 1}}, "templates.data: must be an object without 'Step' and 'User'"),
        ({"ssh": {"user": [{"name": "x", "type": "weird", "path": "p"}]}}, "templates.ssh.user.0.type"),
        ({"ssh": {"host": [{"name": "x", "type": "file", "path": "p"}]}}, "templates.ssh.host.0.template"),
        (
            {"ssh": {"user": [{"name": "x", "type": "file", "path": "p", "template": "missing.tpl"}]}},
            "cannot read",
        ),
    ],
)
def test_bad_templates_block(block: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_ssh_templates(block, PKI)


def test_step_ca_refuses_a_template_it_cannot_render(tmp_path: Path) -> None:
    """Template problems stop start-up with one line naming the template, not a request later."""
    step_path = copy_fixture_pki(tmp_path / "step")
    (step_path / "templates" / "ssh" / "known_hosts.tpl").write_text("{{ $x := .User.Name }}{{ $x }}")
    result = subprocess.run(
        [STEP_CA, str(step_path / "config" / "ca.json"), "--password-file", str(step_path / "password.txt")],
        env={**os.environ, "STEPPATH": str(step_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: template known_hosts.tpl: {{$x := .User.Name}} is not supported"
