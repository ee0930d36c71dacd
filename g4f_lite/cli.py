"""The ``g4f-lite`` command line.

``providers`` (list, filter), ``models`` (what the available providers
serve), ``chat`` (one-shot, piped or interactive), ``check`` (probe
providers), ``serve`` (the OpenAI-compatible server) and ``demo``. Every
command reads the configuration file (``--config``, else
``$G4F_LITE_CONFIG``, else ``./g4f-lite.toml``).

Errors print one line and exit 1 (2 for bad usage, 130 when interrupted);
``--debug`` adds the traceback and debug logging. Heavy modules (aiohttp,
pydantic, the registry) are imported inside the commands, so that
``g4f-lite --help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from . import __version__
from ._term import Spinner, is_terminal, render_table, use_color
from .errors import ConfigurationError, G4FLiteError, ProviderNotFoundError

if TYPE_CHECKING:
    from .types import ProviderHealth

__all__ = ["main"]

T = TypeVar("T")

#: (column label, ProviderInfo field, filter flag) for every capability flag.
_FLAGS = (
    ("working", "working", "working"),
    ("stream", "supports_stream", "stream"),
    ("history", "supports_message_history", "history"),
    ("system", "supports_system_message", "system"),
    ("auth", "needs_auth", "auth"),
    ("tools", "supports_tools", "tools"),
    ("vision", "supports_vision", "vision"),
    ("json", "supports_json_mode", "json-mode"),
    ("gpt-3.5", "supports_gpt_35_turbo", "gpt-35-turbo"),
    ("gpt-4", "supports_gpt_4", "gpt-4"),
)
#: The flags shown as table columns; the model flags are filters only
#: (``--model`` and ``--json`` say more about models).
_COLUMNS = _FLAGS[:8]

# Live health, from the router's store in this process: "ok", "benched 25s",
# "probe" (cooldown over, next call probes it) or "auth failed" (credentials
# refused: fix the configuration); successes/failures; the moving average of
# the time to first chunk. Health is per target: a provider called at other
# base_urls gets one more row for each, its url column naming the target.
_HEALTH_COLUMNS = ("health", "ok/fail", "ttfc")
# The available column: usable now, not (no key, nothing listening), not probed.
_AVAILABLE = {True: "yes", False: "no", None: "?"}

_REPL_HELP = "commands: /reset (forget the conversation), /exit (or Ctrl-D), /help"


def _health_cells(health: ProviderHealth | None) -> list[str]:
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


def _paint(column: int, text: str) -> tuple[str, ...]:
    """Colours of the providers and check tables (header excluded)."""
    if text in ("yes", "ok"):
        return ("green",)
    if text in ("-", ""):
        return ("dim",)
    if text in ("FAIL", "auth failed") or text.startswith("benched"):
        return ("red",)
    return ("cyan",) if column == 0 else ()


# -- the parser -----------------------------------------------------------------


def _seconds(text: str) -> float:
    """An argparse type: a finite positive number of seconds (``inf``/``nan`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    # float() takes "inf", "nan" and "1e400"; none is a time limit anyone meant.
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a finite number of seconds, more than 0")
    return value


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be from 0 (any free port) to 65535")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="g4f-lite", description="Talk to chat-completion providers through one API."
    )
    parser.add_argument("--version", action="version", version=f"g4f-lite {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: $G4F_LITE_CONFIG, else ./g4f-lite.toml)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="debug logging, and tracebacks with errors"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser(
        "providers",
        help="list the providers usable now (--all: every registered one)",
        description="By default only the available providers: credentials present (or none "
        "needed) and, for a server on this machine, something listening.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.add_argument(
        "--all",
        action="store_true",
        help="also the providers not available now (no key, local server not running)",
    )
    for label, _field, flag in _FLAGS:
        listing.add_argument(
            f"--{flag}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"only providers with (--{flag}) or without (--no-{flag}) '{label}'",
        )
    listing.add_argument("--model", "-m", help="only providers supporting this model")
    listing.add_argument("--plugin", help="only providers from this plugin (or 'config')")

    models = commands.add_parser(
        "models",
        help="list the models of the available providers",
        description="Each available provider's models: its configured ones, or what its "
        "server lists (OpenAI-compatible servers are asked, with a short timeout).",
    )
    models.add_argument("--json", action="store_true", help="print JSON for scripts")
    models.add_argument(
        "--provider", "-p", help="only this provider (asked even if it looks unavailable)"
    )

    chat = commands.add_parser(
        "chat",
        help="ask a question (one-shot, piped, or an interactive session)",
        description="With a prompt: one answer. Without one: the prompt is read from "
        "stdin when it is piped, else an interactive session starts.",
    )
    chat.add_argument("prompt", nargs="*", help="the message to send")
    chat.add_argument(
        "--provider",
        "-p",
        action="append",
        help="provider name; repeat to fail over in order (default: any that fits)",
    )
    chat.add_argument("--model", "-m", default="", help="model name (default: the provider's)")
    chat.add_argument("--system", "-s", help="a system message to start the conversation")
    chat.add_argument(
        "--no-stream", action="store_true", help="wait for the whole answer, then print it"
    )
    chat.add_argument(
        "--interactive", "-i", action="store_true", help="start a session even if stdin is piped"
    )
    chat.add_argument("--base-url", help="point the (one) provider at another site")
    chat.add_argument("--timeout", type=_seconds, help="seconds for each whole answer")

    check = commands.add_parser(
        "check", help="probe providers with a short prompt and print a health table"
    )
    check.add_argument(
        "providers", nargs="*", metavar="PROVIDER", help="default: every working one"
    )
    check.add_argument("--prompt", default="Say OK.", help="what to send (default: %(default)r)")
    check.add_argument("--timeout", type=_seconds, default=30.0, help="seconds per provider")
    check.add_argument("--json", action="store_true", help="print JSON for scripts")

    serve = commands.add_parser("serve", help="run the OpenAI-compatible HTTP server")
    serve.add_argument("--host", help="address to bind (default: 127.0.0.1, [server] host)")
    serve.add_argument("--port", type=_port, help="port (default: 1337, [server] port; 0: any)")
    serve.add_argument(
        "--api-key",
        help="require 'Authorization: Bearer KEY' (prefer $G4F_LITE_API_KEY: "
        "arguments show in the process list)",
    )
    serve.add_argument("--timeout", type=_seconds, help="seconds for each whole answer")
    serve.add_argument("--max-body-bytes", type=int, help="request body limit (default: 1 MiB)")
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines as text or one JSON object each (default: text, [server] log_format)",
    )
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_const",
        const=False,
        help="no line per request ([server] access_log = false)",
    )

    demo = commands.add_parser(
        "demo", help="stream an answer from the bundled offline AI Engine emulator"
    )
    demo.add_argument("prompt", nargs="?", default="Hello! What is g4f-lite?")
    return parser


# -- providers -----------------------------------------------------------------------


def _providers(args: argparse.Namespace, out: TextIO) -> int:
    from .client import providers

    filters = {field: getattr(args, flag.replace("-", "_")) for _, field, flag in _FLAGS}
    available = None if args.all else True
    infos = providers(**filters, available=available, model=args.model, plugin=args.plugin)
    if args.json:
        out.write(json.dumps([info.model_dump(mode="json") for info in infos], indent=2) + "\n")
        return 0
    if not infos:
        out.write(
            "no provider matches\n"
            if args.all
            else "no available provider matches (--all lists the others too)\n"
        )
        return 0
    header = [
        "name",
        "available",
        *(label for label, _, _ in _COLUMNS),
        *_HEALTH_COLUMNS,
        "plugin",
        "url",
    ]
    rows = []
    for info in infos:
        rows.append(
            [
                info.name,
                _AVAILABLE[info.available],
                *("yes" if getattr(info, field) else "-" for _, field, _ in _COLUMNS),
                *_health_cells(info.health),
                info.plugin,
                (info.health.target if info.health else None) or info.url,
            ]
        )
        # The default target's health is the row above; every other target
        # called in this process gets its own (targets never carry userinfo).
        rows.extend(
            [
                info.name,
                "",
                *("" for _ in _COLUMNS),
                *_health_cells(target),
                "",
                target.target or "-",
            ]
            for target in info.targets[1:]
        )
    out.write(render_table(header, rows, color=use_color(out), paint=_paint))
    return 0


# -- models -------------------------------------------------------------------------


def _models(args: argparse.Namespace, out: TextIO) -> int:
    from .models import list_models

    loop = _Loop()
    try:
        entries = loop.run(lambda: list_models(provider=args.provider))
    finally:
        loop.close()
    if args.json:
        listing = [entry.model_dump(mode="json") for entry in entries]
        out.write(json.dumps(listing, indent=2) + "\n")
        return 0
    if not entries:
        out.write("no model is known; name one with --model, the provider picks its default\n")
        return 0
    rows = [[entry.provider, entry.model] for entry in entries]
    out.write(render_table(["provider", "model"], rows, color=use_color(out), paint=_paint))
    return 0


# -- chat ---------------------------------------------------------------------------


@dataclass
class _ChatPlan:
    """What every turn of a chat sends, besides the conversation."""

    provider: str | list[str] | None
    model: str
    timeout: float | None
    kwargs: dict[str, Any]
    stream: bool


def _chat_plan(args: argparse.Namespace) -> _ChatPlan:
    # The router applies each provider's [providers.NAME] options itself;
    # a flag given here wins over them.
    names: list[str] = args.provider or []
    if args.base_url and len(names) != 1:
        raise ConfigurationError("--base-url needs exactly one --provider")
    kwargs: dict[str, Any] = {"base_url": args.base_url} if args.base_url else {}
    provider: str | list[str] | None = names[0] if len(names) == 1 else (names or None)
    return _ChatPlan(provider, args.model, args.timeout, kwargs, not args.no_stream)


async def _answer(plan: _ChatPlan, messages: list[dict[str, str]], out: TextIO, err: TextIO) -> str:
    """Print one answer (streamed unless told otherwise) and return it."""
    from .client import ChatCompletion
    from .provider import close_stream

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


class _Loop:
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
        from . import http

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


def _chat(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    plan = _chat_plan(args)
    history: list[dict[str, str]] = []
    if args.system:
        history.append({"role": "system", "content": args.system})
    prompt = " ".join(args.prompt)
    interactive = args.interactive or (not prompt and is_terminal(stdin))
    if not prompt and not interactive:
        prompt = _read_piped(stdin).strip()
        if not prompt:
            raise ConfigurationError("no prompt: give one as an argument or pipe it to stdin")
    loop = _Loop()
    try:
        if not interactive:
            loop.run(
                lambda: _answer(plan, [*history, {"role": "user", "content": prompt}], out, err)
            )
            return 0
        return _repl(loop, plan, history, prompt, out, err, stdin, args.debug)
    finally:
        loop.close()


def _repl(
    loop: _Loop,
    plan: _ChatPlan,
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
            try:
                if terminal:
                    # The prompt belongs on the terminal, not in piped output;
                    # input() draws it itself only when stdout is the terminal
                    # (readline needs that to redraw the line).
                    if is_terminal(out):
                        line = input("> ")
                    else:
                        err.write("> ")
                        err.flush()
                        line = input()
                else:
                    line = stdin.readline()
                    if not line:
                        break
            except EOFError:
                break
            except KeyboardInterrupt:
                err.write("\n")
                continue
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
        history.append({"role": "user", "content": text})
        try:
            answer = loop.run(lambda: _answer(plan, list(history), out, err))
        except KeyboardInterrupt:
            err.write("\n(interrupted)\n")
            history.pop()
            continue
        except G4FLiteError as exc:
            # A failed turn is reported and forgotten; the session goes on.
            _report(exc, err, debug)
            history.pop()
            continue
        history.append({"role": "assistant", "content": answer})
    if terminal:
        err.write("\n")
    return 0


# -- check --------------------------------------------------------------------------


@dataclass
class _Probe:
    """One provider's probe result."""

    provider: str
    ok: bool
    first_chunk_ms: float | None
    total_ms: float
    chars: int
    error: str | None


async def _probe(name: str, prompt: str, timeout: float) -> _Probe:
    from .client import ChatCompletion
    from .health import InMemoryHealthStore
    from .policies import RetryPolicy
    from .provider import close_stream
    from .router import Router

    # One attempt, own health store: a probe measures the provider as it is now
    # (its [providers.NAME] options apply, as on every call).
    router = Router(retry=RetryPolicy(max_attempts=1), health=InMemoryHealthStore())
    started = time.monotonic()
    first: float | None = None
    chars = 0
    try:
        chunks = await ChatCompletion.create_async(
            "",
            [{"role": "user", "content": prompt}],
            provider=name,
            stream=True,
            timeout=timeout,
            router=router,
        )
        try:
            async for chunk in chunks:
                first = first if first is not None else time.monotonic() - started
                chars += len(chunk)
        finally:
            await close_stream(chunks)
    except G4FLiteError as exc:
        return _Probe(
            name, False, _ms(first), _ms(time.monotonic() - started) or 0.0, chars, _one_line(exc)
        )
    return _Probe(name, True, _ms(first), _ms(time.monotonic() - started) or 0.0, chars, None)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def _check_all(names: list[str], prompt: str, timeout: float) -> list[_Probe]:
    return list(await asyncio.gather(*(_probe(name, prompt, timeout) for name in names)))


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from .client import providers
    from .config import is_enabled
    from .registry import get_provider

    if args.providers:
        names = [get_provider(name).name for name in args.providers]
    else:
        names = [info.name for info in providers(working=True) if is_enabled(info.name)]
    if not names:
        out.write("no working provider to check; name some: g4f-lite check NAME...\n")
        return 0
    results = asyncio.run(_check_all(names, args.prompt, args.timeout))
    if args.json:
        out.write(json.dumps([asdict(result) for result in results], indent=2) + "\n")
    else:
        header = ["provider", "status", "ttfc", "total", "chars", "error"]
        rows = [
            [
                r.provider,
                "ok" if r.ok else "FAIL",
                "-" if r.first_chunk_ms is None else f"{r.first_chunk_ms:.0f}ms",
                f"{r.total_ms:.0f}ms",
                str(r.chars),
                _shorten(r.error or "", 100),
            ]
            for r in results
        ]
        out.write(render_table(header, rows, color=use_color(out), paint=_paint))
    return 0 if all(result.ok for result in results) else 1


# -- serve ----------------------------------------------------------------------------


def _serve(args: argparse.Namespace, err: TextIO) -> int:
    from .server import Server, ServerSettings, serve

    settings = ServerSettings.from_config(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        timeout=args.timeout,
        max_body_bytes=args.max_body_bytes,
        log_format=args.log_format,
        access_log=args.access_log,
    )
    if settings.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        err.write(
            f"g4f-lite: warning: serving on {settings.host} without an API key: anyone who can "
            "reach it can use your providers (set $G4F_LITE_API_KEY)\n"
        )

    def ready(server: Server) -> None:
        auth = "bearer key required" if settings.api_key is not None else "no auth"
        err.write(f"g4f-lite: serving the OpenAI API at {server.url} ({auth}); Ctrl-C stops\n")
        for name, target in server.self_routes().items():
            err.write(
                f"g4f-lite: warning: provider {name} is not routed to: its target {target} "
                "is this server itself (point its base_url at another server)\n"
            )
        err.flush()

    serve(settings, on_ready=ready)
    err.write("g4f-lite: server stopped\n")
    return 0


# -- demo -----------------------------------------------------------------------------


async def _demo_async(prompt: str, out: TextIO, err: TextIO) -> None:
    from .registry import get_provider
    from .testing import AIEngineEmulator

    provider = get_provider("Opchatgpts")
    reply = (
        "Hi! I am an emulated WordPress AI Engine site running on your machine. "
        f"g4f-lite sent your message ({prompt!r}) through the {provider.name} provider plugin, "
        "which it discovered through the g4f_lite entry point, and is streaming my answer "
        "to you chunk by chunk, all offline."
    )
    async with AIEngineEmulator(reply=reply) as site:
        err.write(f"[demo] emulated AI Engine site at {site.url}; streaming via {provider.name}\n")
        plan = _ChatPlan(provider.name, "", None, {"base_url": site.url}, stream=True)
        await _answer(plan, [{"role": "user", "content": prompt}], out, err)


# -- main ------------------------------------------------------------------------------


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (AllProvidersFailedError lists a try per line)."""
    return " ".join(part.strip() for part in str(exc).splitlines() if part.strip())


def _report(exc: BaseException, err: TextIO, debug: bool) -> None:
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
    err.write(f"g4f-lite: error: {_one_line(exc) or type(exc).__name__}\n")
    err.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _build_parser().parse_args(argv)
    out, err, stdin = sys.stdout, sys.stderr, sys.stdin
    logging.basicConfig(
        level=logging.DEBUG
        if args.debug
        else logging.INFO
        if args.command == "serve"
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=err,
    )
    try:
        if args.command != "demo":
            from .config import configure

            # --config, $G4F_LITE_CONFIG or ./g4f-lite.toml: declared providers, options.
            configure(args.config)
        if args.command == "providers":
            return _providers(args, out)
        if args.command == "models":
            return _models(args, out)
        if args.command == "chat":
            return _chat(args, out, err, stdin)
        if args.command == "check":
            return _check(args, out)
        if args.command == "serve":
            return _serve(args, err)
        asyncio.run(_demo_async(args.prompt, out, err))
        return 0
    except G4FLiteError as exc:
        _report(exc, err, args.debug)
        if args.command == "demo" and isinstance(exc, ProviderNotFoundError):
            err.write(
                "g4f-lite: the demo needs the Opchatgpts plugin: pip install 'g4f-lite[all]'\n"
            )
        return 1
    except KeyboardInterrupt:
        err.write("\n")
        return 130
    except Exception as exc:
        # A bug, not a user error: still one line, unless --debug asks for more.
        err.write("g4f-lite: internal error (run with --debug for the traceback)\n")
        _report(exc, err, args.debug)
        return 1


if __name__ == "__main__":
    sys.exit(main())
