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
