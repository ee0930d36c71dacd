"""``g4f-lite chat``: one answer, a piped prompt, or an interactive session."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from ..errors import ConfigurationError, G4FLiteError
from ._output import report
from ._term import Spinner, is_terminal

__all__ = ["ChatPlan", "Loop", "answer", "chat"]

T = TypeVar("T")

#: The session's commands; anything else starting with "/" is refused, not sent.
COMMANDS = {
    "/reset": "forget the conversation",
    "/exit": "end the session (also /quit, Ctrl-D)",
    "/help": "this list",
}
_REPL_HELP = "commands: " + ", ".join(f"{name} ({what})" for name, what in COMMANDS.items())


@dataclass
class ChatPlan:
    """What every turn of a chat sends, besides the conversation."""

    provider: str | list[str] | None
    model: str
    timeout: float | None
    kwargs: dict[str, Any]
    stream: bool


def chat_plan(args: argparse.Namespace) -> ChatPlan:
    """The plan of ``chat``'s options (``--base-url`` needs exactly one ``-p``)."""
    # The router applies each provider's [providers.NAME] options itself;
    # a flag given here wins over them.
    names: list[str] = args.provider or []
    if args.base_url and len(names) != 1:
        raise ConfigurationError("--base-url needs exactly one --provider")
    kwargs: dict[str, Any] = {"base_url": args.base_url} if args.base_url else {}
    provider: str | list[str] | None = names[0] if len(names) == 1 else (names or None)
    return ChatPlan(provider, args.model, args.timeout, kwargs, not args.no_stream)


async def answer(plan: ChatPlan, messages: list[dict[str, str]], out: TextIO, err: TextIO) -> str:
    """Print one answer (streamed unless told otherwise) and return it."""
    from ..client import ChatCompletion
    from ..provider import close_stream

    async with Spinner(err) as spinner:
        if not plan.stream:
            text: str = await ChatCompletion.create_async(
                plan.model,
                messages,
                provider=plan.provider,
                stream=False,
                timeout=plan.timeout,
                **plan.kwargs,
            )
            spinner.stop()
            out.write(text + "\n")
            out.flush()
            return text
        chunks = await ChatCompletion.create_async(
            plan.model,
            messages,
            provider=plan.provider,
            stream=True,
            timeout=plan.timeout,
            **plan.kwargs,
        )
        parts: list[str] = []
        try:
            async for chunk in chunks:
                spinner.stop()  # the first chunk is here
                out.write(chunk)
                out.flush()
                parts.append(chunk)
        finally:
            await close_stream(chunks)
        out.write("\n")
        out.flush()
        return "".join(parts)


class Loop:
    """One event loop for a whole chat session, so that connections are reused.

    ``asyncio.run`` per turn would close the pooled session after every answer.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``factory()``'s coroutine; Ctrl-C cancels it, then raises KeyboardInterrupt."""
        task = self.loop.create_task(factory())
        try:
            return self.loop.run_until_complete(task)
        except KeyboardInterrupt:
            task.cancel()
            # The answer was interrupted on purpose: how it ended does not matter.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                self.loop.run_until_complete(task)
            raise

    def close(self) -> None:
        """Close the pooled connections and the loop."""
        from .. import http

        try:
            self.loop.run_until_complete(http.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


def _read_piped(stdin: TextIO) -> str:
    try:
        return stdin.read()
    except OSError:  # stdin closed or unreadable: as if nothing was piped
        return ""


def chat(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """Run ``g4f-lite chat``."""
    plan = chat_plan(args)
    history: list[dict[str, str]] = []
    if args.system:
        history.append({"role": "system", "content": args.system})
    prompt = " ".join(args.prompt)
    interactive = args.interactive or (not prompt and is_terminal(stdin))
    if not prompt and not interactive:
        prompt = _read_piped(stdin).strip()
        if not prompt:
            raise ConfigurationError("no prompt: give one as an argument or pipe it to stdin")
    loop = Loop()
    try:
        if not interactive:
            loop.run(
                lambda: answer(plan, [*history, {"role": "user", "content": prompt}], out, err)
            )
            return 0
        return _repl(loop, plan, history, prompt, out, err, stdin, args.debug)
    finally:
        loop.close()


def _read_line(out: TextIO, err: TextIO, stdin: TextIO, terminal: bool) -> str | None:
    """The next line typed or piped (None at the end); Ctrl-C gives an empty line."""
    try:
        if not terminal:
            line = stdin.readline()
            return line or None
        # The prompt belongs on the terminal, not in piped output; input()
        # draws it itself only when stdout is the terminal (readline needs
        # that to redraw the line).
        if is_terminal(out):
            return input("> ")
        err.write("> ")
        err.flush()
        return input()
    except EOFError:
        return None
    except KeyboardInterrupt:
        err.write("\n")
        return ""


def _repl(
    loop: Loop,
    plan: ChatPlan,
    history: list[dict[str, str]],
    first: str,
    out: TextIO,
    err: TextIO,
    stdin: TextIO,
    debug: bool,
) -> int:
    """An interactive session: every answer joins the history sent with the next question."""
    terminal = is_terminal(stdin)
    if terminal:
        # Line editing and arrow-key history, where the platform has them.
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401
        err.write(f"g4f-lite chat; {_REPL_HELP}\n")
    system = [m for m in history if m["role"] == "system"]
    pending = first
    while True:
        if not pending:
            line = _read_line(out, err, stdin, terminal)
            if line is None:
                break
            pending = line.strip()
            if not pending:
                continue
        text, pending = pending, ""
        if text in ("/exit", "/quit"):
            break
        if text == "/help":
            err.write(_REPL_HELP + "\n")
            continue
        if text == "/reset":
            history[:] = system
            err.write("(conversation forgotten)\n")
            continue
        if _looks_like_command(text):
            # A typo such as /rest must not reach the provider as a question.
            err.write(f"unknown command {text.split()[0]}; {_REPL_HELP}\n")
            continue
        history.append({"role": "user", "content": text})
        try:
            reply = loop.run(lambda: answer(plan, list(history), out, err))
        except KeyboardInterrupt:
            err.write("\n(interrupted)\n")
            history.pop()
            continue
        except G4FLiteError as exc:
            # A failed turn is reported and forgotten; the session goes on.
            report(exc, err, debug)
            history.pop()
            continue
        history.append({"role": "assistant", "content": reply})
    if terminal:
        err.write("\n")
    return 0


def _looks_like_command(text: str) -> bool:
    """``/word`` (and arguments): a command; ``/`` alone or ``/path/to/file`` is a prompt."""
    word = text.split()[0]
    return word.startswith("/") and len(word) > 1 and "/" not in word[1:]
