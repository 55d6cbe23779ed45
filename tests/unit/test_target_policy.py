import ipaddress

import pytest

from shared.target_policy import (
    TargetRefused,
    check_target,
    check_url_syntax,
    parse_networks,
    refusal_reason,
)


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
