"""The SSRF policy, tested with a fake resolver (any answer DNS could give) and the real one."""

import socket

import pytest

from clothing.addresses import AddressPolicy
from clothing.errors import UpstreamError, UrlRefused


def fake_resolver(*addresses: str):
    """A getaddrinfo that answers ``addresses`` for any host."""

    def resolve(host, port, type=0):
        family = lambda a: socket.AF_INET6 if ":" in a else socket.AF_INET  # noqa: E731
        return [(family(a), socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34",
          "64:ff9b::5db8:d822"]  # NAT64 (DNS64 networks) of 93.184.216.34: judged by the address it carries
NEVER_ALLOWED = [
    "169.254.169.254",  # cloud metadata service
    "168.63.129.16",  # Azure's host service (WireServer): a public address that reaches the platform
    "::ffff:168.63.129.16",
    "fd00:ec2::254",  # EC2 metadata over IPv6 (unique local)
    "fe80::1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 spelling of 169.254.169.254
    # Python 3.13 calls 6to4 and Teredo private, so ALLOW_PRIVATE_URLS would let these through unless the
    # policy unwraps them and finds the metadata service inside:
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo carrying 169.254.169.254 (client bits inverted)
]
PRIVATE = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "198.18.0.1",  # benchmarking
    "240.0.0.1",  # reserved
    "::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo carrying 127.0.0.1
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    policy = AddressPolicy(resolve=fake_resolver(address))
    assert policy.checked_addresses("images.example", 443) == [address]


@pytest.mark.parametrize("address", PRIVATE + NEVER_ALLOWED)
def test_non_public_addresses_are_refused(address):
    with pytest.raises(UrlRefused):
        AddressPolicy(resolve=fake_resolver(address)).checked_addresses("images.example", 80)


def test_one_private_answer_among_public_ones_refuses_the_host():
    policy = AddressPolicy(resolve=fake_resolver("93.184.216.34", "10.0.0.7"))
    with pytest.raises(UrlRefused, match="10.0.0.7"):
        policy.checked_addresses("rebinding.example", 80)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fc00::1"])
def test_allow_private_lets_loopback_and_private_networks_through(address):
    policy = AddressPolicy(allow_private=True, resolve=fake_resolver(address))
    assert policy.checked_addresses("localhost", 80) == [address]


@pytest.mark.parametrize("address", NEVER_ALLOWED)
def test_allow_private_still_refuses_metadata_link_local_and_multicast(address):
    with pytest.raises(UrlRefused):
        AddressPolicy(allow_private=True, resolve=fake_resolver(address)).checked_addresses("x.example", 80)


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "::ffff:7f00:1", "localhost", "0"]
)
def test_odd_spellings_of_loopback_are_refused_by_the_real_resolver(host):
    with pytest.raises(UrlRefused):
        AddressPolicy().checked_addresses(host, 80)


def test_a_host_that_does_not_resolve_is_an_upstream_error():
    def resolve(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UpstreamError, match="cannot resolve"):
        AddressPolicy(resolve=resolve).checked_addresses("nowhere.invalid", 80)


@pytest.mark.parametrize(("address", "hinted"), [("127.0.0.1", True), ("192.168.1.20", True),
                                                 ("169.254.169.254", False), ("168.63.129.16", False)])
def test_a_refused_address_names_allow_private_urls_only_where_that_setting_would_let_it_through(address, hinted):
    with pytest.raises(UrlRefused) as refused:
        AddressPolicy(resolve=fake_resolver(address)).checked_addresses("images.test", 80)
    assert ("ALLOW_PRIVATE_URLS=true" in refused.value.message) is hinted
