"""The registry's explicit type map: implemented types build their class, any other type is
reported once at load and refuses tokens with a 401 that names it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stepca.authority.claims import EffectiveClaims
from stepca.config import parse_ca_config
from stepca.errors import Unauthorized
from stepca.provisioner.registry import TYPES, ProvisionerRegistry, UnsupportedProvisioner
from tests.helpers import CAProcess
from tests.tokens import signer_for


def test_the_type_map_is_explicit() -> None:
    assert sorted(TYPES) == ["ACME", "JWK", "OIDC", "SSHPOP"]
    assert TYPES["ACME"]().__name__ == "ACMEProvisioner"
    assert TYPES["JWK"]().__name__ == "JWKProvisioner"
    assert TYPES["OIDC"]().__name__ == "OIDCProvisioner"
    assert TYPES["SSHPOP"]().__name__ == "SSHPOPProvisioner"


def test_an_unsupported_type_is_reported_once_and_refuses(
    session_ca: CAProcess, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = session_ca.pki.config()
    cfg["authority"]["provisioners"].append({"type": "AWS", "name": "Amazon", "accounts": ["123456789012"]})
    config = parse_ca_config(cfg)
    with caplog.at_level(logging.WARNING, logger="stepca.provisioner"):
        reg = ProvisionerRegistry(
            config.authority.provisioners, cfg["authority"]["provisioners"], EffectiveClaims()
        )
    warnings = [r.getMessage() for r in caplog.records if "not supported by stepca" in r.getMessage()]
    assert len(warnings) == 1 and "'Amazon'" in warnings[0] and "AWS" in warnings[0]
    amazon = reg.all[-1]
    assert isinstance(amazon, UnsupportedProvisioner)
    from stepca.provisioner.base import ParsedToken, TokenContext

    tok = ParsedToken.parse(signer_for(session_ca.pki).token(iss="Amazon", header={"kid": "nope"}))
    ctx = TokenContext(audiences=frozenset(), now=0, start_time=0)
    with pytest.raises(Unauthorized, match="provisioner type AWS is not supported by stepca"):
        amazon.authorize_sign(tok, ctx)
    asyncio.run(reg.start())  # lifecycle hooks exist on every type and never fail the start
    asyncio.run(reg.close())


def test_regression_a_cursor_of_unicode_or_endless_digits_is_not_a_500(session_ca: CAProcess) -> None:
    """``GET /provisioners?cursor=²`` (a Unicode digit: ``isdigit()`` but not ``int()``) and a
    cursor of 5000 digits (past ``int``'s limit) were 500s; now the first page and an empty one."""
    cfg = session_ca.pki.config()
    config = parse_ca_config(cfg)
    reg = ProvisionerRegistry(
        config.authority.provisioners, cfg["authority"]["provisioners"], EffectiveClaims()
    )
    first = reg.page("", 0)
    assert reg.page("²", 0) == first and reg.page("١", 0) == first and reg.page("x", 0) == first
    assert reg.page("1" * 5000, 0) == ([], "") and reg.page("9" * 19, 0) == ([], "")
    assert reg.page("0" * 30, 0) == ([], "")  # long, even when zero: no position is that long
    for cursor in ("%C2%B2", "1" * 5000):
        status, body = session_ca.request("GET", f"/provisioners?cursor={cursor}")
        assert status == 200 and "provisioners" in body, (cursor, body)
