"""A plugin whose hook raises while registering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import g4f_lite


@g4f_lite.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    """Fail before registering anything."""
    raise RuntimeError("cannot reach the plugin's own config")
