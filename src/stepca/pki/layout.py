"""Where `step ca init` puts things under STEPPATH (the same tree smallstep's step writes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StepLayout:
    base: Path

    @property
    def certs(self) -> Path:
        return self.base / "certs"

    @property
    def secrets(self) -> Path:
        return self.base / "secrets"

    @property
    def config(self) -> Path:
        return self.base / "config"

    @property
    def db(self) -> Path:
        return self.base / "db"

    @property
    def root_crt(self) -> Path:
        return self.certs / "root_ca.crt"

    @property
    def root_key(self) -> Path:
        return self.secrets / "root_ca_key"

    @property
    def intermediate_crt(self) -> Path:
        return self.certs / "intermediate_ca.crt"

    @property
    def intermediate_key(self) -> Path:
        return self.secrets / "intermediate_ca_key"

    @property
    def ssh_host_pub(self) -> Path:
        return self.certs / "ssh_host_ca_key.pub"

    @property
    def ssh_user_pub(self) -> Path:
        return self.certs / "ssh_user_ca_key.pub"

    @property
    def ssh_host_key(self) -> Path:
        return self.secrets / "ssh_host_ca_key"

    @property
    def ssh_user_key(self) -> Path:
        return self.secrets / "ssh_user_ca_key"

    @property
    def ca_json(self) -> Path:
        return self.config / "ca.json"

    @property
    def defaults_json(self) -> Path:
        return self.config / "defaults.json"

    @property
    def sqlite_db(self) -> Path:
        return self.db / "stepca.db"
