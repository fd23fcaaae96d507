"""Download an image on a caller's behalf: safe addresses and ports, one deadline, a size cap, checked redirects.

The standard library's http.client speaks HTTP, loaded with this module on the
first URL (clothing.service); urllib3 would add more (python -X importtime shows how much).
What is written here is the part no HTTP client does: each hop of a redirect
chain is resolved and checked by the address policy, and the connection goes
to a checked address while the request and the TLS certificate check use the
real host name; and the whole fetch, headers, interim answers and trailers
included, ends at one deadline.

Answers never carry the image host's bytes (a banner, a status line, a
reason phrase): what failed is said in this module's own words.
"""

import contextlib
import http.client
import socket
import ssl
import threading
import time
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from clothing.addresses import AddressPolicy
from clothing.decoding.decode import MEDIA_TYPES
from clothing.errors import BadRequest, ImageTooLarge, UnsupportedScheme, UpstreamError, UpstreamTimeout

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK_BYTES = 64 * 1024
# http.client adds "Accept-Encoding: identity" itself: a compressed body could inflate past the size cap.
# Accept names exactly what decodes here, so that a content-negotiating CDN sends none of the others.
HEADERS = {"User-Agent": "clothing-classifier/1.0", "Accept": ", ".join(MEDIA_TYPES)}
PATH_SAFE = "/%:@!$&'()*+,;=-._~"
QUERY_SAFE = PATH_SAFE + "?"


def shown(url: str) -> str:
    """The URL as answers and logs may show it: without user name and password."""
    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    except ValueError:
        return "the URL"


class Deadline:
    """The end of a whole fetch: when it comes, the open socket is shut, whatever read is blocked on it.

    A socket timeout bounds one read, not a whole answer: a host that trickles its
    headers a byte a second, or sends endless ``100 Continue`` answers or trailers,
    starts it again with every byte.
    """

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.expired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0 or self.expired:
            raise UpstreamTimeout("the image host did not send the image in time")
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            if self.expired:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                _shut(self._socket)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the TCP socket, under TLS too


class PinnedConnection:
    """Connects to checked addresses, in turn, whatever the host name resolves to by now.

    http.client lets go of its socket as soon as it knows the server will
    close, while the response still reads from it; this keeps it until
    ``release``.
    """

    addresses: list[str]
    deadline: Deadline
    connect_timeout: float
    held_socket: socket.socket | None = None

    def open_socket(self) -> socket.socket:
        """A connection to the first checked address that takes one (Lambda has no IPv6 route, say)."""
        *others, last = self.addresses
        for address in others:
            with contextlib.suppress(OSError):
                return self._connect(address)
        return self._connect(last)

    def _connect(self, address: str) -> socket.socket:
        timeout = min(self.connect_timeout, self.deadline.remaining())
        self.held_socket = socket.create_connection((address, self.port), timeout)
        self.deadline.watch(self.held_socket)
        return self.held_socket

    def close(self) -> None:
        self.sock = None

    def release(self) -> None:
        super().close()
        if self.held_socket is not None:
            self.held_socket.close()


class PinnedHTTPConnection(PinnedConnection, http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[str], deadline: Deadline, connect_timeout: float):
        super().__init__(host, port)
        self.addresses, self.deadline, self.connect_timeout = addresses, deadline, connect_timeout

    def connect(self) -> None:
        self.sock = self.open_socket()


class PinnedHTTPSConnection(PinnedConnection, http.client.HTTPSConnection):
    """Also sends the host name for SNI and checks the certificate against it."""

    def __init__(self, host: str, port: int, addresses: list[str], deadline: Deadline, connect_timeout: float,
                 context: ssl.SSLContext):
        super().__init__(host, port, context=context)
        self.addresses, self.deadline, self.connect_timeout = addresses, deadline, connect_timeout
        self.tls = context

    def connect(self) -> None:
        tls_socket = self.tls.wrap_socket(self.open_socket(), server_hostname=self.host,
                                          do_handshake_on_connect=False)
        self.sock = self.held_socket = tls_socket
        self.deadline.watch(tls_socket)  # before the handshake, which a host can trickle too
        tls_socket.do_handshake()


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

    def forget_tls(self) -> None:
        """Load the TLS context anew at the next https URL (SnapStart: each restored copy its own)."""
        self._tls = None

    def fetch(self, url: str, timeout: float) -> bytes:
        """The body of ``url``, following at most ``max_redirects`` redirects, all within ``timeout`` seconds."""
        deadline = Deadline(timeout)
        try:
            return self._follow(url, deadline)
        except (OSError, http.client.HTTPException, UpstreamError) as error:
            if deadline.expired or isinstance(error, TimeoutError):  # whatever a shut socket made the reader say
                raise UpstreamTimeout("the image host did not send the image in time") from None
            if isinstance(error, UpstreamError):
                raise
            raise UpstreamError(_failure(error)) from None
        finally:
            deadline.cancel()

    def _follow(self, url: str, deadline: Deadline) -> bytes:
        parts = self._parse(url)
        for _ in range(self.max_redirects + 1):
            connection, response = self._request(parts, deadline)
            try:
                if response.status not in REDIRECT_STATUSES:
                    return self._read_body(response, deadline)
                location = response.getheader("Location")
            finally:
                connection.release()
            if not location:
                raise UpstreamError("the image host redirected without saying where to")
            target = self._parse(urljoin(parts.geturl(), location))
            if (parts.scheme, target.scheme) == ("https", "http") and not self.policy.allow_private:
                raise UpstreamError("the image host redirected from https to plain http; refused")
            parts = target
        raise UpstreamError(f"more than {self.max_redirects} redirects")

    @staticmethod
    def _parse(url: str) -> SplitResult:
        try:
            url.encode("utf-8")  # a lone surrogate cannot be sent
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a port out of range
        except ValueError:  # UnicodeEncodeError too
            raise BadRequest(f"not a valid URL: {shown(url)!r}") from None
        if parts.scheme.lower() not in DEFAULT_PORTS:
            raise UnsupportedScheme(f"only http and https URLs can be fetched, not {shown(url)!r}")
        if not parts.hostname:
            raise BadRequest(f"the URL has no host: {shown(url)!r}")
        return parts._replace(scheme=parts.scheme.lower())

    def _request(self, parts: SplitResult, deadline: Deadline):
        host, port = parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]
        addresses = self.policy.checked_addresses(host, port)
        if parts.scheme == "https":
            connection = PinnedHTTPSConnection(host, port, addresses, deadline, self.connect_timeout, self.tls)
        else:
            connection = PinnedHTTPConnection(host, port, addresses, deadline, self.connect_timeout)
        target = quote(parts.path or "/", safe=PATH_SAFE) + (f"?{quote(parts.query, safe=QUERY_SAFE)}"
                                                             if parts.query else "")
        try:
            connection.request("GET", target, headers=HEADERS)
            connection.held_socket.settimeout(deadline.remaining())
            return connection, connection.getresponse()
        except BaseException:
            connection.release()
            raise

    def _read_body(self, response: http.client.HTTPResponse, deadline: Deadline) -> bytes:
        if response.status != 200:
            raise UpstreamError(f"the image host answered HTTP {response.status}, not an image")
        if response.length is not None and response.length > self.max_bytes:
            raise ImageTooLarge(f"the image is {response.length} bytes; the limit is {self.max_bytes}")
        chunks, size = [], 0
        while chunk := response.read1(CHUNK_BYTES):  # what has arrived, at once
            size += len(chunk)
            if size > self.max_bytes:
                raise ImageTooLarge(f"the image is over the limit of {self.max_bytes} bytes")
            chunks.append(chunk)
            deadline.remaining()
        deadline.remaining()  # a read cut short by the deadline looks like the end of the body
        if response.length:  # bytes still owed when the connection closed
            raise UpstreamError("the image host closed the connection before sending the whole image")
        return b"".join(chunks)


def _failure(error: BaseException) -> str:
    """What went wrong, in our words: never the image host's own bytes."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "the image host's TLS certificate is not valid for its name"
    if isinstance(error, ssl.SSLError):
        return "the TLS handshake with the image host failed"
    if isinstance(error, http.client.HTTPException):
        return "the image host did not answer with valid HTTP"
    return "cannot connect to the image host, or it closed the connection"
