"""Fetching through the real HTTP stack from a real server on 127.0.0.1."""

import socket
import time

import pytest

from clothing.addresses import AddressPolicy
from clothing.errors import BadRequest, ImageTooLarge, UnsupportedScheme, UpstreamError, UpstreamTimeout, UrlRefused
from clothing.fetch import Fetcher
from tests.conftest import IMAGES


def make_fetcher(allow_private=True, max_bytes=10 * 1024 * 1024, max_redirects=5, resolve=socket.getaddrinfo):
    policy = AddressPolicy(allow_private=allow_private, resolve=resolve)
    return Fetcher(policy, max_bytes=max_bytes, connect_timeout=2.0, max_redirects=max_redirects)


def test_fetches_a_picture(image_server):
    body = make_fetcher().fetch(f"{image_server}/images/pants-1.jpg", timeout=5)
    assert body == (IMAGES / "pants-1.jpg").read_bytes()


def test_follows_redirects(image_server):
    body = make_fetcher().fetch(f"{image_server}/redirect/3/hat-1.jpg", timeout=5)
    assert body == (IMAGES / "hat-1.jpg").read_bytes()


def test_caps_the_number_of_redirects(image_server):
    with pytest.raises(UpstreamError, match="more than 2 redirects"):
        make_fetcher(max_redirects=2).fetch(f"{image_server}/redirect/3/hat-1.jpg", timeout=5)


def test_a_redirect_to_the_metadata_service_is_refused(image_server):
    url = f"{image_server}/redirect-to?url=http://169.254.169.254/latest/meta-data/"
    with pytest.raises(UrlRefused):
        make_fetcher().fetch(url, timeout=5)


def test_a_redirect_to_another_scheme_is_refused(image_server):
    with pytest.raises(UnsupportedScheme):
        make_fetcher().fetch(f"{image_server}/redirect-to?url=file:///etc/passwd", timeout=5)


def test_loopback_is_refused_without_allow_private(image_server):
    with pytest.raises(UrlRefused):
        make_fetcher(allow_private=False).fetch(f"{image_server}/images/pants-1.jpg", timeout=5)


def test_connects_to_the_checked_address_and_sends_the_real_host_name(image_server):
    port = image_server.rsplit(":", 1)[1]
    calls = []

    def resolve(host, port, type=0):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    body = make_fetcher(resolve=resolve).fetch(f"http://images.test:{port}/echo-host", timeout=5)
    assert body == f"images.test:{port}".encode()
    assert calls == ["images.test"]  # resolved once, so a second DNS answer is never used


def test_a_slow_server_times_out_within_the_deadline(image_server):
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        make_fetcher().fetch(f"{image_server}/slow", timeout=0.5)
    assert time.monotonic() - started < 2


def test_a_huge_body_is_cut_off_while_streaming(image_server):
    with pytest.raises(ImageTooLarge):
        make_fetcher(max_bytes=1024 * 1024).fetch(f"{image_server}/huge", timeout=5)


def test_a_declared_huge_body_is_refused_before_reading(image_server):
    with pytest.raises(ImageTooLarge, match=str(50 * 1024 * 1024)):
        make_fetcher().fetch(f"{image_server}/huge-declared", timeout=5)


@pytest.mark.parametrize("status", [403, 404, 500, 503])
def test_an_error_status_is_an_upstream_error(image_server, status):
    with pytest.raises(UpstreamError, match=str(status)):
        make_fetcher().fetch(f"{image_server}/status/{status}", timeout=5)


def test_a_closed_port_is_an_upstream_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamError):
        make_fetcher().fetch(f"http://127.0.0.1:{port}/x.jpg", timeout=5)


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "gopher://x/", "a.jpg"])
def test_only_http_and_https_are_fetched(url):
    with pytest.raises(UnsupportedScheme):
        make_fetcher().fetch(url, timeout=5)


@pytest.mark.parametrize("url", ["http://", "http://[::1/a.jpg", "https://exa mple.com:99999/"])
def test_malformed_urls_are_bad_requests(url):
    with pytest.raises(BadRequest):
        make_fetcher().fetch(url, timeout=5)
