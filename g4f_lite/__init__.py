"""g4f-lite: one small, typed API over many chat-completion providers.

>>> import g4f_lite
>>> g4f_lite.ChatCompletion.create(model="", messages=[{"role": "user", "content": "Hi"}],
...                                provider="Opchatgpts")

Importing this package is cheap: it loads no plugin and opens no connection.
Public names are imported on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> submodule that defines it; resolved lazily by __getattr__ so that
# `import g4f_lite` costs almost nothing (aiohttp alone takes 0.25 s).
_EXPORTS = {
    "AsyncGeneratorProvider": "provider",
    "BaseProvider": "provider",
    "ChatCompletion": "client",
    "CircuitBreaker": "health",
    "InMemoryHealthStore": "health",
    "Message": "types",
    "Messages": "types",
    "ProviderHealth": "types",
    "ProviderInfo": "types",
    "RetryPolicy": "policies",
    "Router": "router",
    "RouterEvent": "events",
    "Timeouts": "policies",
    "ProviderKind": "kinds",
    "ProviderSettings": "kinds",
    "configure": "config",
    "declare_provider": "config",
    "get_provider": "registry",
    "hookimpl": "hookspecs",
    "providers": "registry",
    "register": "registry",
}

__all__ = [
    "AsyncGeneratorProvider",
    "BaseProvider",
    "ChatCompletion",
    "CircuitBreaker",
    "InMemoryHealthStore",
    "Message",
    "Messages",
    "ProviderHealth",
    "ProviderInfo",
    "ProviderKind",
    "ProviderSettings",
    "RetryPolicy",
    "Router",
    "RouterEvent",
    "Timeouts",
    "__version__",
    "configure",
    "declare_provider",
    "get_provider",
    "hookimpl",
    "providers",
    "register",
]

if TYPE_CHECKING:
    from .client import ChatCompletion
    from .config import configure, declare_provider
    from .events import RouterEvent
    from .health import CircuitBreaker, InMemoryHealthStore
    from .hookspecs import hookimpl
    from .kinds import ProviderKind, ProviderSettings
    from .policies import RetryPolicy, Timeouts
    from .provider import AsyncGeneratorProvider, BaseProvider
    from .registry import get_provider, providers, register
    from .router import Router
    from .types import Message, Messages, ProviderHealth, ProviderInfo


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'g4f_lite' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
