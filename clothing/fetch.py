"""Download an image on a caller's behalf: safe addresses, timeouts, a size cap, checked redirects.

urllib3 does the HTTP. Each hop of a redirect chain is resolved and checked
by the address policy, then urllib3 connects to that checked address while
sending the real host name (Host header, TLS SNI and certificate check).
"""

import time
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import HTTPError, LocationParseError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

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


class Fetcher:
    """Fetches URLs under one address policy and one set of limits."""

    def __init__(self, policy: AddressPolicy, max_bytes: int, connect_timeout: float, max_redirects: int):
        self.policy = policy
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.max_redirects = max_redirects

    def fetch(self, url: str, timeout: float) -> bytes:
        """The body of ``url``, following at most ``max_redirects`` redirects within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for _ in range(self.max_redirects + 1):
            response = self._request(url, deadline)
            if response.status not in REDIRECT_STATUSES:
                return self._read_body(url, response, deadline)
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise UpstreamError(f"{url} redirects without a Location header")
            url = urljoin(url, location)
        raise UpstreamError(f"more than {self.max_redirects} redirects")

    def _request(self, url: str, deadline: float) -> urllib3.BaseHTTPResponse:
        try:
            parsed = urllib3.util.parse_url(url)
        except LocationParseError:
            raise BadRequest(f"not a valid URL: {url!r}") from None
        scheme = (parsed.scheme or "").lower()
        if scheme not in DEFAULT_PORTS:
            raise UnsupportedScheme(f"only http and https URLs can be fetched, not {url!r}")
        if not parsed.host:
            raise BadRequest(f"the URL has no host: {url!r}")
        host = parsed.host.strip("[]")
        port = parsed.port or DEFAULT_PORTS[scheme]
        address = self.policy.checked_address(host, port)
        remaining = self._remaining(deadline)
        timeout = urllib3.Timeout(connect=min(self.connect_timeout, remaining), read=remaining)
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address, port, timeout=timeout, retries=False, maxsize=1,
                server_hostname=host, assert_hostname=host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
        host_header = parsed.netloc.rsplit("@", 1)[-1]
        try:
            return pool.urlopen(
                "GET", parsed.request_uri, headers={**HEADERS, "Host": host_header},
                redirect=False, preload_content=False, decode_content=False,
            )
        except NewConnectionError as error:  # urllib3 makes it a timeout subclass; it is not one
            raise UpstreamError(f"cannot connect to {host}: {error}") from None
        except Urllib3Timeout:
            raise UpstreamTimeout(f"{host} did not answer in time") from None
        except HTTPError as error:
            raise UpstreamError(f"cannot fetch {url}: {error}") from None

    def _read_body(self, url: str, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        try:
            if response.status >= 400:
                raise UpstreamError(f"the image host answered {response.status} for {url}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise ImageTooLarge(f"the image is {declared} bytes; the limit is {self.max_bytes}")
            chunks, size = [], 0
            while True:  # the deadline is checked, and the socket's timeout cut to it, at every read
                remaining = self._remaining(deadline)
                if response.connection is not None and response.connection.sock is not None:
                    response.connection.sock.settimeout(remaining)
                chunk = response.read1(CHUNK_BYTES, decode_content=False)  # what has arrived, at once
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > self.max_bytes:
                    raise ImageTooLarge(f"the image is over the limit of {self.max_bytes} bytes")
                chunks.append(chunk)
        except Urllib3Timeout:
            raise UpstreamTimeout(f"{url} did not finish in time") from None
        except HTTPError as error:
            raise UpstreamError(f"cannot read {url}: {error}") from None
        finally:
            response.close()

    @staticmethod
    def _remaining(deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamTimeout("the download ran past its deadline")
        return remaining
