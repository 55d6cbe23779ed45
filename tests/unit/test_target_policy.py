import ipaddress

import pytest

from shared.target_policy import (
    CLOUD_METADATA,
    TargetRefused,
    address_refusal,
    check_target,
    check_url_syntax,
    destination,
    literal_refusal,
    normalise_host,
    parse_networks,
    refusal_reason,
)

ip = ipaddress.ip_address


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "224.0.0.1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "fd00:ec2::254",
        "100.64.0.1",
    ],
)
def test_internal_addresses_are_refused(address):
    assert refusal_reason(ipaddress.ip_address(address)) is not None


def test_public_addresses_pass_and_allow_list_opens_a_range():
    assert refusal_reason(ipaddress.ip_address("93.184.216.34")) is None
    allowed = parse_networks(["127.0.0.0/8"])
    assert refusal_reason(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal_reason(ipaddress.ip_address("10.0.0.1"), allowed) is not None


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "example.com", "http://"])
def test_non_http_urls_are_refused(url):
    with pytest.raises(TargetRefused):
        check_url_syntax(url)


async def test_hostname_resolving_to_loopback_is_refused_unless_allowed():
    with pytest.raises(TargetRefused, match="loopback"):
        await check_target("http://localhost:9/hook", ())
    assert await check_target("http://localhost:9/hook", parse_networks(["127.0.0.0/8", "::1/128"]))
    with pytest.raises(TargetRefused, match=r"metadata|link-local"):
        await check_target("http://169.254.169.254/latest/meta-data", ())
    with pytest.raises(TargetRefused):
        await check_target("http://[::1]:8080/", parse_networks(["127.0.0.0/8"]))


# Every spelling the OS resolver (inet_aton, getaddrinfo) reads as an address, and what it is.
SPELLINGS = [
    ("127.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0x7F.0X0.0.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0177.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("0x", "0.0.0.0"),
    ("0.0", "0.0.0.0"),
    ("00", "0.0.0.0"),
    ("10.1", "10.0.0.1"),
    ("167772161", "10.0.0.1"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("\uff11\uff12\uff17.0.0.1", "127.0.0.1"),  # full-width digits (IDNA maps them)
    ("127\u30020\u30020\u30021", "127.0.0.1"),  # ideographic full stops
    ("::1", "::1"),
    ("[::1]", "::1"),
    ("[::]", "::"),
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("[::ffff:7f00:1]", "127.0.0.1"),
    ("::FFFF:169.254.169.254", "169.254.169.254"),
    ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible
    ("::a9fe:a9fe", "169.254.169.254"),
    ("0:0:0:0:0:0:0:1", "::1"),
]


@pytest.mark.parametrize(("host", "address"), SPELLINGS)
def test_every_spelling_of_an_address_is_normalised_to_it(host, address):
    assert normalise_host(host) == (address, ip(address))


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("B\u00fccher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("ex\u00adample.com", "example.com"),  # IDNA drops a soft hyphen
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("127.0.0.1.nip.io", "127.0.0.1.nip.io"),  # a name: its DNS answer is checked
        ("1.2.3.4x", "1.2.3.4x"),
    ],
)
def test_names_are_normalised_to_lower_case_ascii(host, name):
    assert normalise_host(host) == (name, None)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("a..b", "empty label"),
        ("..", "empty label"),
        ("a.b..", "empty label"),
        ("\u200b.com", "not a valid host name"),
        ("x" * 64 + ".com", "not a valid host name"),
        (".".join(["a" * 60] * 5), "too long"),
        ("a b.com", "character"),
        ("ex%41mple.com", "character"),
        ("evil.com*", "character"),
        ("08.0.0.1", "not a valid IPv4"),
        ("0x7g.1", "not a valid IPv4"),
        ("1.2.3.256", "out of range"),
        ("256.1", "out of range"),
        ("1.16777216", "out of range"),
        ("4294967296", "out of range"),
        ("1.2.3.4.5", "not a valid IPv4"),
        ("example.123", "not a valid IPv4"),
        ("example.0x10", "not a valid IPv4"),
        ("fe80::1%25eth0", "zone"),
        ("::ffff:1.2.3", "not a valid IPv6"),
    ],
)
def test_hosts_no_resolver_should_see_are_refused_with_a_reason(host, reason):
    with pytest.raises(TargetRefused, match=reason):
        normalise_host(host)


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("http://127.1/", "127.0.0.1", 80),
        ("https://2130706433:8443/x", "127.0.0.1", 8443),
        ("HTTP://Example.COM./hook", "example.com", 80),
        ("https://[::ffff:a9fe:a9fe]/", "169.254.169.254", 443),
    ],
)
def test_destinations_are_normalised(url, host, port):
    target = destination(url)
    assert (target.host, target.port) == (host, port)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://a..b/", "empty label"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com:0/", "port"),
        ("http://example.com:70000/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("gopher://example.com/", "http://"),
    ],
)
def test_urls_that_cannot_be_targets_are_refused(url, reason):
    with pytest.raises(TargetRefused, match=reason):
        destination(url)


LINK_LOCAL = parse_networks(["169.254.0.0/16"])
V6_LOCAL = parse_networks(["fd00::/8"])
DECISIONS = [
    # (address, allow-list, the reason's fragment or None when allowed)
    ("93.184.216.34", (), None),
    ("2606:2800:220:1:248:1893:25c8:1946", (), None),
    ("169.254.169.254", (), "cloud metadata"),
    ("169.254.169.254", LINK_LOCAL, "cloud metadata"),  # a range never opens it...
    ("169.254.169.254", parse_networks(["169.254.169.254/32"]), None),  # ...naming it does
    ("169.254.169.254", parse_networks(["169.254.169.254/31"]), "cloud metadata"),
    ("169.254.1.1", LINK_LOCAL, None),  # the rest of the range is opened
    ("::ffff:169.254.169.254", LINK_LOCAL, "cloud metadata"),
    ("fd00:ec2::254", V6_LOCAL, "cloud metadata"),
    ("fd00:ec2::254", parse_networks(["fd00:ec2::254/128"]), None),
    ("fd00:ec2::1", V6_LOCAL, None),
    ("100.100.100.200", parse_networks(["100.64.0.0/10"]), "cloud metadata"),
    ("169.254.170.2", LINK_LOCAL, "cloud metadata"),
    ("127.0.0.1", (), "loopback"),
    ("::ffff:127.0.0.1", parse_networks(["127.0.0.0/8"]), None),
    ("::127.0.0.1", (), "loopback"),
    ("0.0.0.0", (), "unspecified"),
    ("::", (), "unspecified"),
    ("64:ff9b::7f00:1", (), "carrying 127.0.0.1, a loopback"),  # NAT64
    ("64:ff9b::5db8:d822", (), None),
    ("2002:a00:1::", (), "carrying 10.0.0.1, a private"),  # 6to4
    ("100.64.0.1", (), "non-global"),  # carrier-grade NAT
    ("240.0.0.1", (), "private"),  # Python counts 240/4 as private before reserved
    ("192.0.2.1", (), "private"),
    ("ff02::1", (), "multicast"),
]


@pytest.mark.parametrize(("address", "allowed", "fragment"), DECISIONS)
def test_the_decision_table(address, allowed, fragment):
    reason = refusal_reason(ip(address), allowed)
    if fragment is None:
        assert reason is None
    else:
        assert reason is not None and fragment in reason


def test_every_metadata_address_is_refused_under_an_allow_everything_list():
    everything = parse_networks(["0.0.0.0/0", "::/0"])
    for address in CLOUD_METADATA:
        assert refusal_reason(address, everything) == "a cloud metadata address", address


def test_a_refusal_names_the_spelling_and_the_address():
    assert address_refusal("127.1", ip("127.0.0.1"), ()) == (
        "the host 127.1 is the address 127.0.0.1, a loopback address, which is not allowed"
    )
    assert (
        address_refusal("10.0.0.1", ip("10.0.0.1"), ())
        == "10.0.0.1 is a private address, which is not allowed"
    )
    assert literal_refusal("http://2130706433:9/", ()) is not None
    assert literal_refusal("http://2130706433:9/", parse_networks(["127.0.0.0/8"])) is None
    assert literal_refusal("http://example.com/", ()) is None  # names wait for DNS
    assert "empty label" in (literal_refusal("http://a..b/", ()) or "")


async def test_check_target_checks_the_normalised_host_and_every_answer():
    asked: list[tuple[str, int]] = []

    async def answers(host: str, port: int) -> list:
        asked.append((host, port))
        return {"public.example": [ip("93.184.216.34")], "mixed.example": [ip("93.184.216.34"), ip("::1")]}[
            host
        ]

    async def fails(host: str, port: int) -> list:
        raise OSError("no such host")

    assert await check_target("https://PUBLIC.example./x", (), resolve=answers) == [ip("93.184.216.34")]
    assert asked == [("public.example", 443)]
    with pytest.raises(TargetRefused, match=r"mixed\.example resolves to ::1, a loopback address"):
        await check_target("http://mixed.example/", (), resolve=answers)
    with pytest.raises(TargetRefused, match=r"the address 127\.0\.0\.1, a loopback"):
        await check_target("http://0x7f.1/", (), resolve=answers)  # a literal never reaches DNS
    assert await check_target("http://gone.example/", (), resolve=fails, unresolvable_ok=True) == []
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_target("http://gone.example/", (), resolve=fails)
    with pytest.raises(TargetRefused, match="empty label"):
        await check_target("http://a..b/", (), resolve=answers, unresolvable_ok=True)
    assert len(asked) == 2
