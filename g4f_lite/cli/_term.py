"""Terminal output for the CLI, with the standard library only.

Colour and the spinner appear only on a terminal: piped output stays plain
text for scripts. ``NO_COLOR`` (https://no-color.org) turns colour off and
``TERM=dumb`` both. Log records go through :class:`LogHandler`, which
clears a spinning line before writing, so that a warning never shares a
line with the spinner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, TextIO

if TYPE_CHECKING:
    import asyncio

__all__ = ["LogHandler", "Spinner", "is_terminal", "render_table", "style", "use_color"]

# Erase the current line and go back to its start.
_CLEAR_LINE = "\r\x1b[K"

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
    file, where it would corrupt the output. ``label`` may change while it
    spins (a progress count); the next frame shows it.
    """

    _FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    # The spinners drawing now, by stream, for LogHandler; a log record may
    # come from another thread, hence the lock around every write.
    _active: ClassVar[dict[int, Spinner]] = {}
    lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(self, stream: TextIO, label: str = "waiting", interval: float = 0.08) -> None:
        self.stream = stream
        self.label = label
        self.interval = interval
        self.enabled = is_terminal(stream)
        self._task: asyncio.Task[None] | None = None
        self._stopped: asyncio.Task[None] | None = None

    async def _spin(self) -> None:
        import asyncio

        while True:  # until cancelled
            for char in self._FRAMES:
                with self.lock:
                    # Clear to the end: a shorter label leaves nothing behind.
                    self.stream.write(f"\r{char} {self.label}\x1b[K")
                    self.stream.flush()
                await asyncio.sleep(self.interval)

    @classmethod
    def clear(cls, stream: TextIO) -> None:
        """Erase the line of the spinner drawing on ``stream``, if any (it redraws itself)."""
        with cls.lock:
            if id(stream) in cls._active:
                stream.write(_CLEAR_LINE)

    def start(self) -> None:
        """Start spinning on the running loop (nothing when not a terminal)."""
        import asyncio

        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._spin())
            with self.lock:
                self._active[id(self.stream)] = self

    def stop(self) -> None:
        """Stop and erase the spinner; safe to call many times."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            self._stopped = task
            with self.lock:
                if self._active.get(id(self.stream)) is self:
                    del self._active[id(self.stream)]
                self.stream.write(_CLEAR_LINE)
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
            import asyncio

            with contextlib.suppress(asyncio.CancelledError):
                await task


class LogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log records on a stream a spinner may be drawing on, each on a line of its own.

    The default format is the command line's: ``g4f-lite: warning: ...``.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.setFormatter(_CliFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        """Clear a spinning line, then write ``record`` as usual."""
        with Spinner.lock:
            Spinner.clear(self.stream)
            super().emit(record)


class _CliFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"g4f-lite: {record.levelname.lower()}: {record.getMessage()}" + (
            "\n" + self.formatException(record.exc_info) if record.exc_info else ""
        )
