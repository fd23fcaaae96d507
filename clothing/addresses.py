"""Which hosts the function may fetch from: the defence against server-side request forgery.

Inside Lambda, 127.0.0.1:9001 is the runtime API and the function's
credentials sit in its environment; elsewhere 169.254.169.254 hands out
credentials, and on Azure 168.63.129.16, a public address, is the platform's
own host service. So a URL's host is resolved here, every address it resolves to
must be public, and the caller connects to the address that was checked,
so a second DNS answer cannot differ from the first.
"""

import ipaddress
import socket
from collections.abc import Callable, Collection

from clothing.errors import UpstreamError, UrlRefused
from clothing.settings import WEB_PORTS

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
METADATA_SERVICES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
# Public addresses that reach a cloud platform itself rather than the internet: Azure's host (WireServer).
PLATFORM_SERVICES = {ipaddress.ip_address("168.63.129.16")}


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    return None


def is_public(address: IPAddress) -> bool:
    """True for globally routable unicast addresses only.

    An IPv6 address that carries an IPv4 one is judged by the IPv4 address too.
    """
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner) and (address.is_global or address.ipv4_mapped is not None)
    return address.is_global and not (address.is_multicast or address.is_reserved or address in PLATFORM_SERVICES)


def is_private(address: IPAddress) -> bool:
    """Loopback and private-network addresses: what ALLOW_PRIVATE_URLS lets through.

    Metadata services, link-local, multicast, reserved and unspecified
    addresses stay refused even then.
    """
    inner = embedded_ipv4(address)
    address = inner if inner is not None else address
    if address.is_loopback:
        return True
    if address in METADATA_SERVICES or address.is_link_local or address.is_multicast \
            or address.is_unspecified or address.is_reserved:
        return False
    return address.is_private


# Where a picture on the caller's own machine is refused: the one setting that lets it through, and when.
LOCAL_TESTING = " (to fetch from this machine or its network while testing locally: ALLOW_PRIVATE_URLS=true)"


class AddressPolicy:
    """Resolves a host and returns the addresses it is safe to connect to, on a port it is safe to use.

    Only the web's ports, 80 and 443, unless told otherwise: on any port the
    function would knock on a caller's behalf, and tell refused, silent and
    talking services apart. ``allow_private`` (local testing) allows every port.
    """

    def __init__(self, allow_private: bool = False, resolve: Resolver = socket.getaddrinfo,
                 ports: Collection[int] = WEB_PORTS):
        self.allow_private = allow_private
        self.ports = frozenset(ports)
        self._resolve = resolve

    def allowed(self, address: IPAddress) -> bool:
        return is_public(address) or (self.allow_private and is_private(address))

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """Every address of ``host``, in the resolver's order, after checking the port and each address."""
        if port not in self.ports and not self.allow_private:
            raise UrlRefused(f"only ports {', '.join(map(str, sorted(self.ports)))} may be fetched, not {port}"
                             f"{LOCAL_TESTING}")
        try:
            answers = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise UpstreamError(f"cannot resolve host {host!r}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(answer[4][0].split("%")[0]) for answer in answers))
        if not addresses:
            raise UpstreamError(f"host {host!r} has no address")
        refused = [a for a in addresses if not self.allowed(a)]
        if refused:
            hint = LOCAL_TESTING if all(is_private(a) for a in refused) and not self.allow_private else ""
            raise UrlRefused(
                f"host {host!r} resolves to a non-public address ({', '.join(map(str, refused))}); "
                f"only public internet addresses may be fetched{hint}"
            )
        return [str(address) for address in addresses]
