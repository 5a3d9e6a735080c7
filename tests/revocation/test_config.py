"""ca.json ``crl``: smallstep's field names, and one-line errors that name the field."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from stepca.config import parse_ca_config
from stepca.errors import ConfigError
from tests.helpers import STEP_CA, make_pki

BASE = {"root": "r", "crt": "c", "key": "k", "address": "127.0.0.1:9000", "dnsNames": ["ca.example.com"]}


def test_smallstep_names_and_defaults() -> None:
    cfg = parse_ca_config(
        {
            **BASE,
            "crl": {"enabled": True, "generateOnRevoke": True, "renewPeriod": "1h", "idpURL": "http://x/crl"},
        }
    )
    assert cfg.crl is not None
    assert (cfg.crl.enabled, cfg.crl.generate_on_revoke, cfg.crl.idp_url) == (True, True, "http://x/crl")
    assert cfg.crl.cache_duration == timedelta(hours=24)
    assert cfg.crl.renew_after == timedelta(hours=1)
    default = parse_ca_config({**BASE, "crl": {"enabled": True}}).crl
    assert default is not None and default.renew_after == timedelta(hours=16)  # 2/3 of cacheDuration


@pytest.mark.parametrize(
    ("crl", "message"),
    [
        ({"cacheDuration": "banana"}, 'crl.cacheDuration: Value error, invalid duration "banana"'),
        ({"cacheDuration": "-1h"}, "crl.cacheDuration: Value error, must be a duration greater than 0"),
        ({"renewPeriod": "0s"}, "crl.renewPeriod: Value error, must be a duration greater than 0"),
        ({"renewPeriod": "25h"}, "crl: Value error, renewPeriod must not be longer than cacheDuration"),
        ({"idpURL": "ldap://x"}, "crl.idpURL: Value error, must be an http:// or https:// URL"),
        ({"enabled": "maybe"}, "crl.enabled: Input should be a valid boolean"),
    ],
)
def test_bad_fields(crl: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ca_config({**BASE, "crl": {"enabled": True, **crl}}, "ca.json")
    assert str(info.value).startswith(f"ca.json: {message}")


def test_step_ca_refuses_a_bad_crl_block_in_one_line(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    pki.edit_config(lambda cfg: cfg.__setitem__("crl", {"enabled": True, "cacheDuration": "banana"}))
    result = subprocess.run(
        [STEP_CA, str(pki.ca_json), "--password-file", str(pki.password_file)],
        capture_output=True,
        text=True,
        timeout=60,
        env=pki.env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "crl.cacheDuration" in lines[0] and "banana" in lines[0]
    assert str(pki.ca_json) in lines[0]
