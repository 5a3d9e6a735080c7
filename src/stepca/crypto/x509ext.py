"""The step provisioner extension (OID 1.3.6.1.4.1.37476.9000.64.1).

ASN.1, as smallstep's step-ca writes it::

    SEQUENCE { type INTEGER, name OCTET STRING, credentialID OCTET STRING,
               keyValuePairs SEQUENCE OF UTF8String OPTIONAL }
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stepca.crypto import der

PROVISIONER_OID = "1.3.6.1.4.1.37476.9000.64.1"

# smallstep's provisioner type numbers (authority/provisioner/provisioner.go)
PROVISIONER_TYPE_NUMBERS: dict[str, int] = {
    "NOOP": 0,
    "JWK": 1,
    "OIDC": 2,
    "GCP": 3,
    "AWS": 4,
    "AZURE": 5,
    "ACME": 6,
    "X5C": 7,
    "K8SSA": 8,
    "SSHPOP": 9,
    "SCEP": 10,
    "NEBULA": 11,
}
PROVISIONER_TYPE_NAMES = {
    0: "NOOP",
    1: "JWK",
    2: "OIDC",
    3: "GCP",
    4: "AWS",
    5: "Azure",
    6: "ACME",
    7: "X5C",
    8: "K8sSA",
    9: "SSHPOP",
    10: "SCEP",
    11: "Nebula",
}


@dataclass(frozen=True)
class ProvisionerExtension:
    type: int
    name: str
    credential_id: str
    key_value_pairs: tuple[str, ...] = field(default=())

    @property
    def type_name(self) -> str:
        return PROVISIONER_TYPE_NAMES.get(self.type, str(self.type))

    def to_der(self) -> bytes:
        parts = [
            der.integer(self.type),
            der.tlv(der.OCTET_STRING, self.name.encode()),
            der.tlv(der.OCTET_STRING, self.credential_id.encode()),
        ]
        if self.key_value_pairs:
            parts.append(
                der.sequence(*(der.tlv(der.UTF8_STRING, kv.encode()) for kv in self.key_value_pairs))
            )
        return der.sequence(*parts)

    @classmethod
    def from_der(cls, data: bytes) -> ProvisionerExtension:
        items = der.read_sequence(data)
        if len(items) < 3 or items[0][0] != der.INTEGER:
            raise ValueError("malformed step provisioner extension")
        kvs: tuple[str, ...] = ()
        if len(items) > 3 and items[3][0] == der.SEQUENCE:
            kvs = tuple(v.decode() for _, v in der.read_sequence(der.tlv(der.SEQUENCE, items[3][1])))
        return cls(
            type=der.read_integer(items[0][1]),
            name=items[1][1].decode(errors="replace"),
            credential_id=items[2][1].decode(errors="replace"),
            key_value_pairs=kvs,
        )


def provisioner_type_number(type_name: str) -> int:
    return PROVISIONER_TYPE_NUMBERS.get(type_name.upper(), 0)
