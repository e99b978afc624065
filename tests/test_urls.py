"""URL canonicalisation and lookup expressions, with the examples of the Safe Browsing
"URLs and Hashing" specification."""

from __future__ import annotations

import pytest

from core.errors import InvalidSignal
from hashers.urls import canonicalize

#: (input, canonical form): the specification's canonicalisation examples.
CANONICAL = [
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    (
        "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
        "http://168.188.99.26/.secure/www.ebay.com/",
    ),
    (
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
    ),
    (
        "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
        "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    ),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    (b"http://\x01\x80.com/", "http://%01%80.com/"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("http://www.gotaport.com:1234/", "http://www.gotaport.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    ("http:// leadingspace.com/", "http://%20leadingspace.com/"),
    ("http://%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
]


@pytest.mark.parametrize(("url", "canonical"), CANONICAL)
def test_the_specifications_canonical_forms(url, canonical):
    assert str(canonicalize(url)) == canonical


@pytest.mark.parametrize(
    ("host", "dotted"),
    [
        ("3279880203", "195.127.0.11"),
        ("0xc37f000b", "195.127.0.11"),
        ("0303.0177.0.013", "195.127.0.11"),
        ("195.0x7f.11", "195.127.0.11"),
        ("195.8323083", "195.127.0.11"),
        ("0x7f.1", "127.0.0.1"),
    ],
)
def test_every_ipv4_spelling_becomes_dotted_decimal(host, dotted):
    assert canonicalize(f"http://{host}/x").host == dotted


def test_international_names_become_punycode_and_other_bytes_are_escaped():
    assert canonicalize("http://bücher.de/").host == "xn--bcher-kva.de"
    assert canonicalize("https://Bücher.DE/é").path == "/%C3%A9"
    assert canonicalize("http://256.1.1.1/").host == "256.1.1.1"  # no address: a name


@pytest.mark.parametrize(
    ("url", "expressions"),
    [
        (
            "http://a.b.c/1/2.html?param=1",
            [
                "a.b.c/1/2.html?param=1",
                "a.b.c/1/2.html",
                "a.b.c/",
                "a.b.c/1/",
                "b.c/1/2.html?param=1",
                "b.c/1/2.html",
                "b.c/",
                "b.c/1/",
            ],
        ),
        (
            "http://a.b.c.d.e.f.g/1.html",
            [
                "a.b.c.d.e.f.g/1.html",
                "a.b.c.d.e.f.g/",
                "c.d.e.f.g/1.html",
                "c.d.e.f.g/",
                "d.e.f.g/1.html",
                "d.e.f.g/",
                "e.f.g/1.html",
                "e.f.g/",
                "f.g/1.html",
                "f.g/",
            ],
        ),
        ("http://1.2.3.4/1/", ["1.2.3.4/1/", "1.2.3.4/"]),
        ("http://example.co.uk/1", ["example.co.uk/1", "example.co.uk/", "co.uk/1", "co.uk/"]),
    ],
)
def test_the_specifications_lookup_expressions(url, expressions):
    assert sorted(canonicalize(url).expressions()) == sorted(expressions)


def test_a_deep_path_gives_at_most_six_prefixes():
    prefixes = canonicalize("http://h.com/a/b/c/d/e/f.html?x=1").path_prefixes()
    assert prefixes == [
        "/a/b/c/d/e/f.html?x=1",
        "/a/b/c/d/e/f.html",
        "/",
        "/a/",
        "/a/b/",
        "/a/b/c/",
    ]


@pytest.mark.parametrize("bad", ["", "   ", "http://", "http:///path", "http://[::1]/", 5])
def test_what_has_no_host_is_refused(bad):
    with pytest.raises(InvalidSignal):
        canonicalize(bad)
