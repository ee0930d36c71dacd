"""A plugin whose provider and kind take names other plugins already use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import g4f_lite
from g4f_lite.kinds import ProviderKind, ProviderSettings

from .echo import EchoProvider


class Opchatgpts(EchoProvider):
    """Same name as the reference provider, different class."""


def _make(name: str, options: ProviderSettings) -> type[g4f_lite.BaseProvider]:
    return type(name, (EchoProvider,), {"name": name})


#: Same name (in another case) as the OpenAI-compatible plugin's kind.
KIND: ProviderKind[ProviderSettings] = ProviderKind("OpenAI", ProviderSettings, _make)


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register a provider named Opchatgpts."""
    register(Opchatgpts)


@g4f_lite.hookimpl
def register_provider_kinds(register: Callable[[ProviderKind[Any]], None]) -> None:
    """Register a kind named like the OpenAI-compatible one."""
    register(KIND)
