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


def _parameters(value: str) -> tuple[str, dict[str, str]]:
    """``issuer-domain; key=value; ...`` (RFC 8659 §4.2) → (issuer domain, parameters)."""
    domain, *params = value.split(";")
    found: dict[str, str] = {}
    for p in params:
        key, sep, val = p.strip().partition("=")
        if sep:
            found[key.strip().lower()] = val.strip()
    return domain.strip().lower().rstrip("."), found


def allows(
    records: list[tuple[int, str, str]],
    identities: Iterable[str],
    *,
    wildcard: bool,
    account_uri: str = "",
    method: str = "",
) -> bool:
    """Whether the record set lets us issue; ``accounturi`` and ``validationmethods`` (RFC 8657)
    are honoured when the caller says which account and challenge type it is about."""
    ours = {i.lower().rstrip(".") for i in identities}
    if any(flags & 128 and tag not in ("issue", "issuewild", "iodef") for flags, tag, _ in records):
        return False  # an unknown critical property: refuse (§4)
    tag = "issuewild" if wildcard and any(t == "issuewild" for _, t, _ in records) else "issue"
    relevant = [value for _, t, value in records if t == tag]
    if not relevant:
        return True
    for value in relevant:
        domain, params = _parameters(value)
        if domain not in ours:
            continue
        if "accounturi" in params and account_uri and params["accounturi"] != account_uri:
            continue
        methods = {m.strip() for m in params.get("validationmethods", "").split(",") if m.strip()}
        if methods and method and method not in methods:
            continue
        return True
    return False


async def check_caa(
    identifiers: Iterable[Identifier],
    identities: Iterable[str],
    resolver: Resolver | None,
    *,
    account_uri: str = "",
    methods: dict[str, str] | None = None,
) -> None:
    """``methods``: identifier value → the challenge type that validated it."""
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
        method = (methods or {}).get(ident.value, "")
        if not allows(records, identities, wildcard=ident.wildcard, account_uri=account_uri, method=method):
            raise AcmeProblem("caa", f"CAA records forbid this CA to issue for {ident.value}", 403)
