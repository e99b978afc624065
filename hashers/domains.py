"""Domains: hosts and registrable domains, by the Public Suffix List.

A domain signal names a host or a registrable domain (`example.co.uk`, not
`co.uk`) and covers that host and every subdomain under it. Which part of a
name is registrable comes from the Public Suffix List, as shipped inside the
`publicsuffixlist` package (no download at run time: deployments may be
air-gapped). Names under a TLD the list does not know are taken as they are.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from core.errors import InvalidSignal
from hashers.urls import canonicalize, is_ipv4


@lru_cache(maxsize=1)
def suffix_list() -> PublicSuffixList:
    """The shipped list, parsed once (unknown TLDs are not treated as suffixes)."""
    return PublicSuffixList(accept_unknown=False)


def normalize_domain(value: str) -> str:
    """A host in its canonical spelling (the URL rules: lower case, punycode, IPv4
    dotted); a bare public suffix (`com`, `co.uk`) is refused: it would cover
    millions of unrelated sites."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidSignal("a domain must be non-empty text", code="invalid_domain")
    text = value.strip()
    host = canonicalize(text if "/" in text else f"{text}/").host
    if "%" in host or ("." not in host and not is_ipv4(host)):
        raise InvalidSignal(f"{value!r} is not a domain name", code="invalid_domain")
    if suffix_list().is_public(host):
        raise InvalidSignal(
            f"{host!r} is a public suffix; name a domain registered under it",
            code="invalid_domain",
        )
    return host


def parent_domains(host: str) -> list[str]:
    """The host, then each parent down to its registrable domain: the bank values
    that cover `host` (an IP address or unknown suffix: down to two labels)."""
    if is_ipv4(host):
        return [host]
    registrable = suffix_list().privatesuffix(host)
    labels = host.split(".")
    floor = registrable.count(".") + 1 if registrable else min(2, len(labels))
    return [".".join(labels[start:]) for start in range(len(labels) - floor + 1)]
