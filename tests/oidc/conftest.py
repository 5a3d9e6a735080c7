"""The ``openid_provider`` fixture: one real oidc-provider per test module (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.oidc.harness import NodeMissing, OpenIDProvider


@pytest.fixture(scope="module")
def openid_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    """A running provider with the default clients (step-cli, step-cli-es256, step-cli-eddsa,
    step-public, other-client, expired-client) and users (alice@example.com, bob@other.org,
    carol@example.com, admin@corp.example). Skipped only when node is not installed."""
    op = OpenIDProvider(tmp_path_factory.mktemp("openid-provider"))
    try:
        op.start()
    except NodeMissing as exc:
        pytest.skip(str(exc))
    yield op
    op.stop()
