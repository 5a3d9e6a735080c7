"""`step ca ...`: the command group; each command is imported when used."""

from __future__ import annotations

import click

from stepca.cli.main import CONTEXT_SETTINGS, LazyGroup

_CA_COMMANDS = {
    "init": ("stepca.cli.ca_init:init", "initialize the CA PKI"),
    "bootstrap": ("stepca.cli.ca_bootstrap:bootstrap", "initialize the environment to use the CA commands"),
    "health": ("stepca.cli.ca_bootstrap:health", "get the status of the CA"),
    "root": ("stepca.cli.ca_bootstrap:root", "download and validate the root certificate"),
    "roots": ("stepca.cli.ca_bootstrap:roots", "download all the root certificates"),
    "federation": ("stepca.cli.ca_bootstrap:federation", "download all the federated certificates"),
    "token": ("stepca.cli.ca_token:token", "generate an OTT granting access to the CA"),
    "certificate": (
        "stepca.cli.ca_cert:certificate",
        "generate a new private key and certificate signed by the root",
    ),
    "sign": ("stepca.cli.ca_cert:sign", "generate a new certificate signing a certificate request"),
    "renew": ("stepca.cli.ca_renew:renew", "renew a valid certificate"),
    "rekey": ("stepca.cli.ca_renew:rekey", "rekey a valid certificate"),
    "revoke": ("stepca.cli.ca_renew:revoke", "revoke a certificate"),
    "crl": ("stepca.cli.revocation:crl", "download the certificate revocation list (or its delta)"),
    "acme": ("stepca.cli.ca_acme:acme", "manage ACME (External Account Binding keys)"),
    "admin": ("stepca.cli.ca_admin:admin", "create and manage the certificate authority admins"),
    "certificates": (
        "stepca.cli.ca_certificates:certificates",
        "list, find and export the certificates the CA issued",
    ),
    "provisioner": (
        "stepca.cli.ca_provisioner:provisioner",
        "create and manage the certificate authority provisioners",
    ),
}


@click.group(cls=LazyGroup, lazy=_CA_COMMANDS, context_settings=CONTEXT_SETTINGS)
def ca() -> None:
    """Initialize a PKI, and talk to a running certificate authority."""
