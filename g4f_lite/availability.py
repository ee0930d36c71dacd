"""Whether a provider can be used *now*, from this process.

``working`` is a class flag: the code works against its service. Being
*available* depends on this machine: a provider that needs a key is available
when the key is configured (or its environment variable is set), and one
whose target is a server on this machine (Ollama, vLLM, an emulator...) when
something listens there. The second is found by a TCP connect, bounded by a
short timeout and remembered for a while, so that routing never waits on a
server nobody started and never probes on every request.

An :class:`Availability` belongs to a router (``router.availability``); two
clients keep their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .provider import BaseProvider

__all__ = ["Address", "Availability", "loopback_address"]

#: A TCP target: ``(host, port)``.
Address: TypeAlias = tuple[str, int]

#: How long a probe's answer is trusted, in seconds.
DEFAULT_TTL = 30.0
#: How long a probe may wait for a connection, in seconds: a server on this
#: machine accepts at once or not at all.
DEFAULT_PROBE_TIMEOUT = 0.2


def loopback_address(url: str | None) -> Address | None:
    """``(host, port)`` of ``url`` when its host is this machine (loopback), else ``None``."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed port: nothing to probe
        return None
    host = parts.hostname
    if host is None:
        return None
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:  # a name other than localhost: not known to be local
            return None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return host, port


def describe_address(address: Address) -> str:
    """``host:port`` (IPv6 hosts bracketed), as error messages show a target."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Availability:
    """Remembers which local servers answered a TCP probe, for ``ttl`` seconds.

    ``clock`` returns seconds on a monotonic clock (a fake one in tests).
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_PROBE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._clock = clock
        # address -> (listening, when it was seen)
        self._seen: dict[Address, tuple[bool, float]] = {}

    def __repr__(self) -> str:
        return f"Availability(ttl={self.ttl:g}, timeout={self.timeout:g}, known={len(self._seen)})"

    def listening(self, address: Address) -> bool | None:
        """Whether something listened at ``address`` when last probed (``None``: not known)."""
        seen = self._seen.get(address)
        if seen is None:
            return None
        if self._clock() - seen[1] >= self.ttl:
            del self._seen[address]
            return None
        return seen[0]

    def record(self, address: Address, listening: bool) -> None:
        """Remember what a probe (or a real connection) found at ``address``."""
        self._seen[address] = (listening, self._clock())

    def forget(self) -> None:
        """Forget every probe, so that the next question probes again."""
        self._seen.clear()

    async def probe(self, addresses: Iterable[Address]) -> None:
        """Probe those of ``addresses`` not known now, concurrently, within ``timeout``."""
        unknown = {address for address in addresses if self.listening(address) is None}
        if unknown:
            await asyncio.gather(*(self._probe_one(address) for address in unknown))

    async def _probe_one(self, address: Address) -> None:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(*address), timeout=self.timeout
            )
        except asyncio.TimeoutError:
            # A server on this machine accepts or refuses at once; no answer
            # in time means a busy machine (or a firewall), not a server
            # known to be down: left unknown, the provider is still tried.
            return
        except OSError:
            self.record(address, False)
            return
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        self.record(address, True)

    def of(self, provider: type[BaseProvider], kwargs: Mapping[str, Any]) -> bool | None:
        """Whether ``provider``, called with ``kwargs``, is available (``None``: not probed yet).

        False when it needs credentials and has none, or its local server
        did not answer the last probe.
        """
        if provider.needs_auth and not provider.has_credentials(kwargs):
            return False
        address = provider.probe_address(kwargs)
        return True if address is None else self.listening(address)

    def why_not(self, provider: type[BaseProvider], kwargs: Mapping[str, Any]) -> str | None:
        """Why a probed ``provider`` is not available (``None``: it is, or it is not known)."""
        address = provider.probe_address(kwargs)
        if address is not None and self.listening(address) is False:
            return f"nothing listening at {describe_address(address)}"
        return None
