"""The router package: its modules as its docstring names them, one import path, one logger."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re

import pytest
from router_helpers import USER, FakeClock, make_router, site_provider

import g4f_lite.router
from g4f_lite.router import RouterEvent
from g4f_lite.testing import AIEngineEmulator, Fault


def test_the_docstring_names_every_module_of_the_package() -> None:
    named = set(re.findall(r":mod:`~g4f_lite\.router\.(\w+)`", g4f_lite.router.__doc__ or ""))
    present = {info.name for info in pkgutil.iter_modules(g4f_lite.router.__path__)}
    assert named == present == {"planning", "call", "retrying", "timeouts"}


@pytest.mark.parametrize("name", g4f_lite.router.__all__)
def test_public_names_still_import_from_g4f_lite_router(name: str) -> None:
    value = getattr(g4f_lite.router, name)
    home = getattr(value, "__module__", None)
    if home is not None and home.startswith("g4f_lite.router."):
        # Defined in a submodule: the package hands out that very object.
        assert getattr(importlib.import_module(home), name) is value


async def test_every_part_logs_under_the_documented_router_logger(
    site: AIEngineEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: RouterEvent) -> None:
        raise RuntimeError("observer bug")

    site_provider("A", site)
    site.faults.append(Fault.http_status(500))
    router = make_router(FakeClock(), on_event=[broken])
    with caplog.at_level(logging.DEBUG, logger="g4f_lite.router"):
        assert await router.complete("", USER)
    names = {
        part: {r.name for r in caplog.records if r.getMessage().startswith(prefix)}
        for part, prefix in [
            ("the attempt loop", "attempt 1 of provider A"),
            ("the tenacity glue", "provider A attempt 1 failed"),
            ("the event plumbing", "router event listener"),
        ]
    }
    assert names == {part: {"g4f_lite.router"} for part in names}
