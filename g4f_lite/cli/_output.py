"""How the command line words errors and paints tables.

Library messages speak Python (``provider=...``); on the command line the
same advice names the flags (``-p NAME``). The library's messages stay as
they are: they are translated here, on their way to the terminal.
"""

from __future__ import annotations

import re
import traceback
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..types import ProviderHealth

__all__ = ["cli_text", "health_cells", "one_line", "paint", "report"]

# (library wording, command-line wording), applied in order.
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"name one explicitly with provider=\.\.\.", "name one with -p NAME"),
        (r"name it explicitly to use it anyway", "name it with -p to use it anyway"),
        (r"name one explicitly with model='Provider/model'", "name one with -m PROVIDER/MODEL"),
        (r"or provider=None to let the router choose", "or leave out -p to let the router choose"),
        (r"provider=None", "no -p"),
        (r"\bprovider=(['\"])(.*?)\1", r"-p \2"),
        (r"\bprovider=\.\.\.", "-p NAME"),
        (r"\bmodel=(['\"])(.*?)\1", r"-m \2"),
        (r"\bbase_url=(['\"])(.*?)\1", r"--base-url \2"),
        # Commands quoted for the documentation read plainly on a terminal.
        (r"`(g4f-lite [^`]*)`", r"\1"),
    )
)


def cli_text(message: str) -> str:
    """``message`` with its Python-call hints reworded for the command line."""
    for pattern, replacement in _HINTS:
        message = pattern.sub(replacement, message)
    return message


def one_line(exc: BaseException) -> str:
    """The error's message on one line, in the command line's words.

    :class:`~g4f_lite.errors.AllProvidersFailedError` lists every attempt on a
    line of its own; here it is its summary (how many attempts) and the
    last error, which is usually the one that explains the rest.
    """
    from ..errors import AllProvidersFailedError

    if isinstance(exc, AllProvidersFailedError) and exc.attempts:
        summary = exc.message.rstrip(":")
        text = f"{summary}; the last: {exc.attempts[-1].describe()} (--debug lists each)"
    else:
        text = str(exc)
    return cli_text(" ".join(part.strip() for part in text.splitlines() if part.strip()))


def report(exc: BaseException, err: TextIO, debug: bool) -> None:
    """Write ``exc`` to ``err``: one line, after the traceback and every detail with ``debug``."""
    from ..errors import AllProvidersFailedError

    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
        if isinstance(exc, AllProvidersFailedError):
            err.write(cli_text(str(exc)) + "\n")
    err.write(f"g4f-lite: error: {one_line(exc) or type(exc).__name__}\n")
    err.flush()


def health_cells(health: ProviderHealth | None) -> list[str]:
    """The health, ok/fail and ttfc cells of a provider's (or target's) row."""
    if health is None:
        return ["-", "-", "-"]
    if health.benched:
        state = f"benched {health.cooldown_remaining:.0f}s"
    elif health.state == "auth_failed":
        state = "auth failed"
    else:
        state = "probe" if health.state == "half_open" else "ok"
    first_chunk = "-" if health.first_chunk is None else f"{health.first_chunk * 1000:.0f}ms"
    return [state, f"{health.successes}/{health.failures}", first_chunk]


def paint(column: int, text: str) -> tuple[str, ...]:
    """Colours of the providers and check tables (header excluded)."""
    if text in ("yes", "ok"):
        return ("green",)
    if text in ("-", ""):
        return ("dim",)
    if text in ("FAIL", "auth failed") or text.startswith("benched"):
        return ("red",)
    return ("cyan",) if column == 0 else ()
