"""Fetching through the real HTTP stack from a real server on 127.0.0.1."""

import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
import trustme

from clothing.addresses import AddressPolicy
from clothing.errors import BadRequest, ImageTooLarge, UnsupportedScheme, UpstreamError, UpstreamTimeout, UrlRefused
from clothing.fetch import Fetcher
from scripts.ports import free_port
from tests.conftest import IMAGES, ImageRequestHandler


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


@pytest.mark.process
def test_a_closed_port_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        make_fetcher().fetch(f"http://127.0.0.1:{free_port()}/x.jpg", timeout=5)


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "gopher://x/", "a.jpg"])
def test_only_http_and_https_are_fetched(url):
    with pytest.raises(UnsupportedScheme):
        make_fetcher().fetch(url, timeout=5)


@pytest.mark.parametrize("url", ["http://", "http://[::1/a.jpg", "https://exa mple.com:99999/"])
def test_malformed_urls_are_bad_requests(url):
    with pytest.raises(BadRequest):
        make_fetcher().fetch(url, timeout=5)


@pytest.fixture(scope="module")
def https_server():
    """A real TLS server on 127.0.0.1 whose certificate, from a test CA, names images.test."""
    authority = trustme.CA()
    server = ThreadingHTTPServer(("127.0.0.1", 0), ImageRequestHandler)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("images.test").configure_cert(server_context)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    yield server.server_address[1], client_context
    server.shutdown()
    server.server_close()


def https_fetcher(client_context) -> Fetcher:
    def resolve(host, port, type=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    policy = AddressPolicy(allow_private=True, resolve=resolve)
    return Fetcher(policy, max_bytes=10 * 1024 * 1024, connect_timeout=2.0, max_redirects=5, tls=client_context)


@pytest.mark.process
def test_https_to_the_checked_address_verifies_the_certificate_for_the_host_name(https_server):
    port, client_context = https_server
    body = https_fetcher(client_context).fetch(f"https://images.test:{port}/images/hat-2.jpg", timeout=5)
    assert body == (IMAGES / "hat-2.jpg").read_bytes()


@pytest.mark.process
def test_https_refuses_a_certificate_for_another_name(https_server):
    port, client_context = https_server
    with pytest.raises(UpstreamError, match="certificate"):
        https_fetcher(client_context).fetch(f"https://other.test:{port}/images/hat-2.jpg", timeout=5)


@pytest.mark.process
def test_https_refuses_an_untrusted_certificate(https_server):
    port, _ = https_server
    with pytest.raises(UpstreamError, match="certificate"):
        https_fetcher(ssl.create_default_context()).fetch(f"https://images.test:{port}/images/hat-2.jpg", timeout=5)
