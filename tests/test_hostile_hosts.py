"""Image hosts that misbehave on purpose (``tests/hostile.py``): every fetch ends on time, in our words."""

import socket
import time

import pytest

from clothing.addresses import AddressPolicy
from clothing.errors import BadRequest, ImageTooLarge, UpstreamError, UpstreamTimeout, UrlRefused
from clothing.fetch import Fetcher
from scripts.ports import free_port
from tests.hostile import PICTURE, hostile_host

DEADLINE = 1.0
MARGIN = 0.5  # what "within its deadline" allows for scheduling on a busy machine


@pytest.fixture(scope="module")
def hostile():
    with hostile_host() as url:
        yield url


def fetcher(policy: AddressPolicy | None = None) -> Fetcher:
    return Fetcher(policy or AddressPolicy(allow_private=True), max_bytes=10 * 2**20, connect_timeout=2.0,
                   max_redirects=5)


@pytest.mark.process
@pytest.mark.parametrize("path", ["/trickled-headers", "/endless-continue", "/endless-trailers", "/trickled-body"])
def test_the_whole_fetch_ends_at_its_deadline_whatever_the_host_sends(hostile, path):
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        fetcher().fetch(hostile + path, timeout=DEADLINE)
    assert time.monotonic() - started < DEADLINE + MARGIN


@pytest.mark.process
def test_another_servers_banner_never_reaches_the_answer(hostile):
    with pytest.raises(UpstreamError) as caught:
        fetcher().fetch(hostile + "/banner", timeout=DEADLINE)
    assert "SSH" not in caught.value.message and "OpenSSH" not in caught.value.message
    assert caught.value.message == "the image host did not answer with valid HTTP"


@pytest.mark.process
@pytest.mark.parametrize("status", [204, 206, 300, 304])
def test_answers_that_carry_no_image_are_upstream_errors(hostile, status):
    with pytest.raises(UpstreamError, match=f"answered HTTP {status}, not an image") as caught:
        fetcher().fetch(f"{hostile}/status/{status}", timeout=DEADLINE)
    assert "Whatever" not in caught.value.message  # the reason phrase is the host's, not ours


@pytest.mark.process
def test_a_body_cut_short_of_its_length_is_an_upstream_error(hostile):
    with pytest.raises(UpstreamError, match="before sending the whole image"):
        fetcher().fetch(hostile + "/cut-short", timeout=DEADLINE)


@pytest.mark.process
def test_an_unreadable_content_length_is_read_to_the_end(hostile):
    assert fetcher().fetch(hostile + "/odd-length", timeout=DEADLINE) == PICTURE


@pytest.mark.process
def test_every_checked_address_is_tried_in_turn(hostile):
    port = int(hostile.rsplit(":", 1)[1])
    closed = free_port()

    def resolve(host, _port, type=0):  # an address that refuses first, as IPv6 does where there is no route
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", closed)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    assert fetcher(AddressPolicy(allow_private=True, resolve=resolve)).fetch(
        f"http://images.test:{port}/picture", timeout=DEADLINE) == PICTURE


def test_only_the_webs_ports_are_fetched_by_default_and_all_are_refused_alike():
    policy = AddressPolicy(resolve=lambda host, port, type=0: [(socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                                                ("93.184.216.34", port))])
    messages = set()
    for port in (22, 25, 6379, 8080):
        with pytest.raises(UrlRefused) as caught:
            policy.checked_addresses("example.com", port)
        messages.add(caught.value.message.replace(f"not {port}", "not N"))
    assert messages == {"only ports 80, 443 may be fetched, not N (to fetch from this machine or its network "
                        "while testing locally: ALLOW_PRIVATE_URLS=true)"}
    assert policy.checked_addresses("example.com", 443) == ["93.184.216.34"]
    assert AddressPolicy(ports=(80, 443, 8443), resolve=policy._resolve).checked_addresses("a.b", 8443)


@pytest.mark.process
def test_credentials_in_a_url_never_reach_the_message(hostile):
    url = hostile.replace("http://", "http://user:secret@") + "/status/404"
    with pytest.raises(UpstreamError) as caught:
        fetcher().fetch(url, timeout=DEADLINE)
    assert "secret" not in caught.value.message
    with pytest.raises(BadRequest) as bad:
        fetcher().fetch("http://user:secret@[::1/a.jpg", timeout=DEADLINE)
    assert "secret" not in str(bad.value)


@pytest.mark.process
def test_a_huge_declared_length_is_refused_before_reading(hostile):
    with pytest.raises(ImageTooLarge):
        Fetcher(AddressPolicy(allow_private=True), max_bytes=1000, connect_timeout=2.0, max_redirects=1).fetch(
            hostile + "/picture", timeout=DEADLINE)


@pytest.mark.process
def test_the_host_is_asked_for_an_uncompressed_body(hostile):
    """A compressed body could inflate past the size cap once decoded."""
    assert fetcher().fetch(hostile + "/echo-encoding", timeout=DEADLINE) == b"identity"
