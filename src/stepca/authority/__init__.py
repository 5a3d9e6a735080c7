"""The CA core: sign, renew, rekey, revoke, claims, templates. No HTTP, no SQL."""
