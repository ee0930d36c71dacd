"""A plugin that registers something that is not a provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import g4f_lite


class NotAProvider:
    """Has no business in the registry."""


@g4f_lite.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    """Register a class that is not a provider."""
    register(NotAProvider)
