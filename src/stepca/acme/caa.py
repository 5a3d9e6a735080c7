"""CAA (RFC 8659) at finalize: the closest CAA record set above each name must allow us."""

from __future__ import annotations

from collections.abc import Iterable

from stepca.acme.dnsquery import DNSFailure, Resolver
from stepca.acme.identifiers import Identifier
from stepca.acme.problems import AcmeProblem


async def relevant_set(resolver: Resolver, name: str) -> list[tuple[int, str, str]]:
    """The CAA records of the closest node at or above ``name`` that has any (§3)."""
    labels = name.rstrip(".").split(".")
    for i in range(len(labels)):
        records = await resolver.caa(".".join(labels[i:]) + ".")
        if records:
            return records
    return []


def allows(records: list[tuple[int, str, str]], identities: Iterable[str], *, wildcard: bool) -> bool:
    ours = {i.lower().rstrip(".") for i in identities}
    if any(flags & 128 and tag not in ("issue", "issuewild", "iodef") for flags, tag, _ in records):
        return False  # an unknown critical property: refuse (§4)
    tag = "issuewild" if wildcard and any(t == "issuewild" for _, t, _ in records) else "issue"
    relevant = [value for _, t, value in records if t == tag]
    if not relevant:
        return True
    return any(value.split(";")[0].strip().lower().rstrip(".") in ours for value in relevant)


async def check_caa(
    identifiers: Iterable[Identifier], identities: Iterable[str], resolver: Resolver | None
) -> None:
    resolver = resolver or Resolver()
    identities = list(identities)
    for ident in identifiers:
        if ident.type != "dns":
            continue
        try:
            records = await relevant_set(resolver, ident.base)
        except DNSFailure as exc:
            raise AcmeProblem(
                "caa", f"the CAA records of {ident.value} could not be checked: {exc}", 403
            ) from None
        if not allows(records, identities, wildcard=ident.wildcard):
            raise AcmeProblem("caa", f"CAA records forbid this CA to issue for {ident.value}", 403)
