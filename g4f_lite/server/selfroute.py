"""Telling a provider that points back at this server, so that serving it never loops.

A provider whose target (its configured ``base_url``, else its ``url``, as
the router's health key resolves it) is the server's own listening address
would send each request back to the server, which would route it to the same
provider again: a request loop that only ends when connections or deadlines
run out. The server leaves such providers out of routing, refuses a request
that names one (400), and says why in ``GET /v1/providers``.

A target is this server when its port is the port the server listens on and
its host is one the server answers on: the very host it bound, a loopback
name or address (``localhost``, ``127.0.0.0/8``, ``::1``) when it listens
on loopback or on every address, and, when it listens on every address
(``0.0.0.0``, ``::``), this machine's host name or any of its own addresses.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..health import normalize_target

if TYPE_CHECKING:
    from ..provider import BaseProvider
    from ..router import Router

__all__ = ["OwnAddress"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def _is_any(host: str) -> bool:
    if host == "":
        return True
    ip = _ip(host)
    return ip is not None and ip.is_unspecified


@functools.lru_cache(maxsize=256)
def _is_own_host(host: str) -> bool:
    """Whether ``host`` names this machine: its host name, or an address of its interfaces."""
    if host == socket.gethostname().lower():
        return True
    ip = _ip(host)
    if ip is None:
        return False  # another name: resolving it could mean a DNS query on every request
    # Binding succeeds only to an address of one of this machine's interfaces;
    # no packet is sent.
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(ip), 0))
    except OSError:
        return False
    return True


class OwnAddress:
    """Where the server listens, and which providers' targets are the server itself.

    Empty until :meth:`listen_on` is told the bound sockets (an application
    served by other means than :class:`~g4f_lite.server.Server` checks
    nothing). What each provider resolves to is cached per router and
    configuration, since it is asked on every request.
    """

    def __init__(self) -> None:
        self.sockets: list[tuple[str, int]] = []
        self._seen: tuple[object, object] | None = None
        self._targets: dict[type[BaseProvider], str | None] = {}

    def listen_on(self, addresses: Iterable[Any]) -> None:
        """Record the bound socket addresses (``(host, port, ...)`` tuples, as aiohttp gives)."""
        self.sockets = [
            (str(address[0]).lower(), int(address[1]))
            for address in addresses
            if isinstance(address, tuple) and len(address) >= 2
        ]
        self._targets.clear()

    def is_self(self, url: str) -> bool:
        """Whether a request to ``url`` would reach this server."""
        if not self.sockets:
            return False
        try:
            parts = urlsplit(url.strip())
            host = (parts.hostname or "").lower()
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
        except ValueError:
            return False
        if not parts.netloc or port is None:
            return False
        for bound_host, bound_port in self.sockets:
            if port != bound_port:
                continue
            if host == bound_host:
                return True
            # Connecting to 0.0.0.0 or :: reaches this machine too.
            local = _is_loopback(host) or _is_any(host)
            if local and (_is_loopback(bound_host) or _is_any(bound_host)):
                return True
            if _is_any(bound_host) and _is_own_host(host):
                return True
        return False

    def target_of(self, router: Router, provider: type[BaseProvider]) -> str | None:
        """``provider``'s target (credentials masked) if it is this server, else ``None``."""
        if not self.sockets:
            return None
        seen = (router, router.config)
        if self._seen is None or self._seen[0] is not seen[0] or self._seen[1] is not seen[1]:
            self._seen = seen
            self._targets.clear()
        try:
            return self._targets[provider]
        except KeyError:
            pass
        base_url = router.kwargs_for(provider, {}).get("base_url")
        target = str(base_url) if base_url else provider.url
        found = normalize_target(target) if target and self.is_self(target) else None
        self._targets[provider] = found
        return found

    def reason(self, target: str) -> str:
        """Why a provider with ``target`` is not routed to."""
        return (
            f"its target {target} is this server itself: routing to it would loop "
            "(point its base_url at another server)"
        )
