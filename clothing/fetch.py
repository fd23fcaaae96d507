"""Download an image on a caller's behalf: safe addresses, timeouts, a size cap, checked redirects.

The standard library's http.client speaks HTTP; it is loaded anyway (by
keras-image-helper), where urllib3 would add about 60 ms to every cold start.
What is written here is the part no HTTP client does: each hop of a redirect
chain is resolved and checked by the address policy, and the connection goes
to that checked address while the request and the TLS certificate check use
the real host name.
"""

import http.client
import socket
import ssl
import time
from urllib.parse import quote, urljoin, urlsplit

from clothing.addresses import AddressPolicy
from clothing.errors import BadRequest, ImageTooLarge, UnsupportedScheme, UpstreamError, UpstreamTimeout

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK_BYTES = 64 * 1024
HEADERS = {
    "User-Agent": "clothing-classifier/1.0",
    "Accept": "image/*",
    "Accept-Encoding": "identity",  # a compressed body could inflate past the size cap
}


class PinnedConnection:
    """Connects to a checked address, whatever the host name resolves to by now.

    http.client lets go of its socket as soon as it knows the server will
    close, while the response still reads from it; this keeps it until
    ``release``, so the deadline can shorten its timeout at every read.
    """

    address: str
    held_socket: socket.socket | None = None

    def open_socket(self) -> socket.socket:
        self.held_socket = socket.create_connection((self.address, self.port), self.timeout)
        return self.held_socket

    def close(self) -> None:
        self.sock = None

    def release(self) -> None:
        super().close()
        if self.held_socket is not None:
            self.held_socket.close()


class PinnedHTTPConnection(PinnedConnection, http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = self.open_socket()


class PinnedHTTPSConnection(PinnedConnection, http.client.HTTPSConnection):
    """Also sends the host name for SNI and checks the certificate against it."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        self.sock = self.held_socket = self.tls.wrap_socket(self.open_socket(), server_hostname=self.host)


class Fetcher:
    """Fetches URLs under one address policy and one set of limits."""

    def __init__(self, policy: AddressPolicy, max_bytes: int, connect_timeout: float, max_redirects: int,
                 tls: ssl.SSLContext | None = None):
        self.policy = policy
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.max_redirects = max_redirects
        self._tls = tls

    @property
    def tls(self) -> ssl.SSLContext:
        """The system's trusted certificates, loaded at the first https URL rather than at cold start."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def fetch(self, url: str, timeout: float) -> bytes:
        """The body of ``url``, following at most ``max_redirects`` redirects within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for _ in range(self.max_redirects + 1):
            connection, response = self._request(url, deadline)
            try:
                if response.status not in REDIRECT_STATUSES:
                    return self._read_body(url, connection, response, deadline)
                location = response.getheader("Location")
            finally:
                connection.release()
            if not location:
                raise UpstreamError(f"{url} redirects without a Location header")
            url = urljoin(url, location)
        raise UpstreamError(f"more than {self.max_redirects} redirects")

    def _request(self, url: str, deadline: float):
        try:
            parts = urlsplit(url)
            scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
        except ValueError:
            raise BadRequest(f"not a valid URL: {url!r}") from None
        if scheme not in DEFAULT_PORTS:
            raise UnsupportedScheme(f"only http and https URLs can be fetched, not {url!r}")
        if not host:
            raise BadRequest(f"the URL has no host: {url!r}")
        port = port or DEFAULT_PORTS[scheme]
        address = self.policy.checked_address(host, port)
        timeout = min(self.connect_timeout, self._remaining(deadline))
        if scheme == "https":
            connection = PinnedHTTPSConnection(host, port, address, timeout, self.tls)
        else:
            connection = PinnedHTTPConnection(host, port, address, timeout)
        target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", target, headers=HEADERS)
            connection.held_socket.settimeout(self._remaining(deadline))
            return connection, connection.getresponse()
        except TimeoutError:
            connection.release()
            raise UpstreamTimeout(f"{host} did not answer in time") from None
        except (OSError, http.client.HTTPException, UnicodeError) as error:
            connection.release()
            raise UpstreamError(f"cannot fetch {url}: {error}") from None

    def _read_body(self, url: str, connection, response: http.client.HTTPResponse, deadline: float) -> bytes:
        if response.status >= 400:
            raise UpstreamError(f"the image host answered {response.status} for {url}")
        declared = response.getheader("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageTooLarge(f"the image is {declared} bytes; the limit is {self.max_bytes}")
        chunks, size = [], 0
        try:
            while True:  # the deadline is checked, and the socket's timeout cut to it, at every read
                connection.held_socket.settimeout(self._remaining(deadline))
                chunk = response.read1(CHUNK_BYTES)  # what has arrived, at once
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > self.max_bytes:
                    raise ImageTooLarge(f"the image is over the limit of {self.max_bytes} bytes")
                chunks.append(chunk)
        except TimeoutError:
            raise UpstreamTimeout(f"{url} did not finish in time") from None
        except (OSError, http.client.HTTPException) as error:
            raise UpstreamError(f"cannot read {url}: {error}") from None

    @staticmethod
    def _remaining(deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamTimeout("the download ran past its deadline")
        return remaining
