"""Terminal output for the CLI, with the standard library only.

Colour and the spinner appear only on a terminal: piped output stays plain
text for scripts. ``NO_COLOR`` (https://no-color.org) turns colour off and
``TERM=dumb`` both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TextIO

__all__ = ["Spinner", "is_terminal", "render_table", "style", "use_color"]

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def use_color(stream: TextIO) -> bool:
    """Whether to colour output written to ``stream``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def style(text: str, *names: str, enabled: bool = True) -> str:
    """``text`` wrapped in ANSI codes (``"bold"``, ``"red"``...), if ``enabled``."""
    if not enabled or not names or not text:
        return text
    codes = ";".join(_CODES[name] for name in names)
    return f"\x1b[{codes}m{text}\x1b[0m"


def render_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    color: bool = False,
    paint: Callable[[int, str], tuple[str, ...]] | None = None,
) -> str:
    """Columns padded to their widest cell, two spaces apart.

    With ``color``: a bold header, a rule under it, and each cell styled by
    ``paint(column, text)`` (names for :func:`style`). Widths are measured on
    the plain text, so styling never shifts a column.
    """
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str], styles: Callable[[int, str], tuple[str, ...]]) -> str:
        padded = [
            style(cell, *styles(i, cell), enabled=color) + " " * (width - len(cell))
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    out = [line(header, lambda _i, _c: ("bold",))]
    if color:
        out.append(style("  ".join("─" * width for width in widths), "dim"))
    out += [line(row, paint or (lambda _i, _c: ())) for row in rows]
    return "\n".join(out) + "\n"


class Spinner:
    """A spinner on ``stream`` until :meth:`stop`, only if ``stream`` is a terminal.

    Used while waiting for a first chunk: it must never reach a pipe or a
    file, where it would corrupt the output.
    """

    _FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, stream: TextIO, label: str = "waiting", interval: float = 0.08) -> None:
        self.stream = stream
        self.label = label
        self.interval = interval
        self.enabled = is_terminal(stream)
        self._task: asyncio.Task[None] | None = None
        self._stopped: asyncio.Task[None] | None = None

    async def _spin(self) -> None:
        while True:  # until cancelled
            for char in self._FRAMES:
                self.stream.write(f"\r{char} {self.label}")
                self.stream.flush()
                await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start spinning on the running loop (nothing when not a terminal)."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._spin())

    def stop(self) -> None:
        """Stop and erase the spinner; safe to call many times."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            self._stopped = task
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    async def __aenter__(self) -> Spinner:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        task, self._stopped = self._stopped, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
