"""Config loading: typed models, and errors that name the file and the field."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from stepca.config import load_ca_config, load_defaults, parse_ca_config, resolve_path
from stepca.errors import ConfigError
from tests.helpers import STEP, assert_one_line_error, run_step
from tests.pki.fixture_tree import copy_fixture_pki


@pytest.fixture(scope="module")
def fixture_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tree = copy_fixture_pki(tmp_path_factory.mktemp("cfg") / "step")
    data: dict[str, Any] = json.loads((tree / "config" / "ca.json").read_text())
    return data


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_ca_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "invalid JSON at line 1 column 2"),
        ('{"a": 1,\n "b": }', "invalid JSON at line 2"),
        ("[1, 2]", "must contain a JSON object"),
        ("", "invalid JSON"),
    ],
)
def test_invalid_json_names_file_and_position(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "ca.json"
    path.write_text(content)
    assert expected in _error(path)


def test_missing_directory_and_undecodable_files(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope.json")
    assert "cannot be read" in _error(tmp_path)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "cannot be read" in _error(binary)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda c: c.pop("crt"), "crt: Field required"),
        (lambda c: c.__setitem__("dnsNames", []), "dnsNames"),
        (
            lambda c: c["authority"]["provisioners"][0].pop("key"),
            "authority.provisioners.0.key: Field required",
        ),
        (lambda c: c["authority"]["provisioners"][0]["key"].__setitem__("d", "secret"), "private member 'd'"),
        (
            lambda c: c["authority"]["provisioners"][0].__setitem__("name", ""),
            "authority.provisioners.0.name",
        ),
        (lambda c: c["logger"].__setitem__("format", "xml"), "logger.format"),
        (
            lambda c: c.__setitem__("authority", {"claims": {"maxTLSCertDuration": "1 day"}}),
            "maxTLSCertDuration",
        ),
    ],
)
def test_invalid_fields_are_named(
    tmp_path: Path, fixture_config: dict[str, Any], edit: Any, field: str
) -> None:
    config = json.loads(json.dumps(fixture_config))
    edit(config)
    path = tmp_path / "ca.json"
    path.write_text(json.dumps(config))
    assert field in _error(path)


def test_durations_and_defaults(fixture_config: dict[str, Any]) -> None:
    config = json.loads(json.dumps(fixture_config))
    config["authority"]["claims"] = {
        "maxTLSCertDuration": "2h30m",
        "defaultTLSCertDuration": 3_600_000_000_000,
    }
    config["authority"]["provisioners"] = None
    config["logger"] = None
    parsed = parse_ca_config(config, "ca.json")
    assert parsed.authority.claims is not None
    assert parsed.authority.claims.max_tls_dur == timedelta(hours=2, minutes=30)
    assert parsed.authority.claims.default_tls_dur == timedelta(hours=1)  # Go nanoseconds
    assert parsed.authority.provisioners == []
    assert parsed.logger.format == "text"
    assert parsed.authority.backdate == timedelta(minutes=1)


def test_relative_paths_resolve_under_steppath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPPATH", str(tmp_path))
    assert resolve_path("certs/root_ca.crt") == tmp_path / "certs" / "root_ca.crt"
    assert resolve_path("/abs/x") == Path("/abs/x")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_path("~/x") == tmp_path / "home" / "x"


def test_missing_defaults_json_is_empty(tmp_path: Path) -> None:
    defaults = load_defaults(tmp_path / "none.json")
    assert defaults.ca_url is None and defaults.root is None


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_text("{oops"), "invalid JSON"),
        (lambda p: p.mkdir(), "cannot be read"),
        (lambda p: p.write_bytes(b"\xff\xfe"), "cannot be read"),
        (lambda p: p.write_text('{"root": 5}'), "root"),
    ],
)
def test_cli_reports_a_bad_defaults_json_in_one_line(tmp_path: Path, make: Any, expected: str) -> None:
    """`step certificate verify` without --roots reads defaults.json: a bad one is one clear line."""
    step_path = tmp_path / "step"
    (step_path / "config").mkdir(parents=True)
    defaults = step_path / "config" / "defaults.json"
    make(defaults)
    env = {**os.environ, "STEPPATH": str(step_path), "HOME": str(tmp_path)}
    env.pop("STEPDEBUG", None)
    crt = tmp_path / "x.crt"
    crt.write_text("unused")
    line = assert_one_line_error(run_step(["certificate", "verify", str(crt)], env, check=False))
    assert str(defaults) in line and expected in line
    assert STEP  # the real entry point ran
