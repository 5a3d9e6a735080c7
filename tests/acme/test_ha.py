"""No same-account limitation: many concurrent orders of one account, spread over two
instances on one PostgreSQL (or MariaDB) database, all complete (smallstep serializes them per account)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509

from tests.acme.client import AcmeClient
from tests.acme.conftest import add_acme_provisioner, directory_url
from tests.acme.dns_server import LoopbackDNS
from tests.acme.flows import dns01_order
from tests.db.backends import Backend, open_backend
from tests.ha.cluster import instance_tree
from tests.helpers import CAProcess, make_pki, start_ca, wait_ready

ORDERS = 12


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def two_instances(
    request: pytest.FixtureRequest, tmp_path: Path, dns_server: LoopbackDNS
) -> Iterator[list[CAProcess]]:
    backend: Backend = open_backend(request.param, tmp_path)
    (tmp_path / "pki").mkdir()
    base = make_pki(tmp_path / "pki")
    backend.apply(base)
    add_acme_provisioner(base)
    trees = [instance_tree(base, tmp_path, f"instance-{i}") for i in range(2)]
    cas = [start_ca(t, workers=2, wait=False, extra_args=["--resolver", dns_server.address]) for t in trees]
    try:
        for ca in cas:
            wait_ready(ca, timeout=60)
        yield cas
    finally:
        for ca in cas:
            ca.stop()
        backend.close()


def test_parallel_orders_of_one_account_on_two_instances(
    two_instances: list[CAProcess], dns_server: LoopbackDNS
) -> None:
    ctx = ssl.create_default_context(cafile=str(two_instances[0].pki.root))
    first = AcmeClient(directory_url(two_instances[0]), ctx)
    assert first.new_account().status == 201

    def one(i: int) -> tuple[str, str]:
        ca = two_instances[i % 2]
        c = AcmeClient(directory_url(ca), ctx, key=first.key, kid=first.kid)
        name = f"order{i}.ha.example.com"
        order = dns01_order(c, dns_server, name)
        final, _ = c.finalize(order, [name])
        assert final.status == 200, final.body
        body = final.json()
        pem = c.post(body["certificate"], None).body
        leaf = x509.load_pem_x509_certificate(pem)
        return body["status"], leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)[0]

    with ThreadPoolExecutor(ORDERS) as pool:
        results = list(pool.map(one, range(ORDERS)))
    assert results == [("valid", f"order{i}.ha.example.com") for i in range(ORDERS)]
    # one account: the other instance finds it by its key, and lists no pending order of it
    again = AcmeClient(directory_url(two_instances[1]), ctx, key=first.key)
    assert (
        again.new_account(onlyReturnExisting=True).location.rsplit("/", 1)[1] == first.kid.rsplit("/", 1)[1]
    )
    assert again.post(again.kid, None).json()["status"] == "valid"
