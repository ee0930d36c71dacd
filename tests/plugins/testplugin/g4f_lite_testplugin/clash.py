"""A plugin whose provider takes a name another plugin already uses."""

from __future__ import annotations

from collections.abc import Callable

import g4f_lite

from .echo import EchoProvider


class Opchatgpts(EchoProvider):
    """Same name as the reference provider, different class."""


@g4f_lite.hookimpl
def register_providers(register: Callable[[type[g4f_lite.BaseProvider]], None]) -> None:
    """Register a provider named Opchatgpts."""
    register(Opchatgpts)
