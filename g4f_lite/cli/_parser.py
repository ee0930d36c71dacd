"""The ``g4f-lite`` argument parser: every command and option, in one place.

Only :mod:`argparse` is imported here, so that ``g4f-lite --help`` loads
nothing else.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from .. import __version__

__all__ = ["COLUMNS", "FLAGS", "build_parser"]

#: (column label, ProviderInfo field, filter flag) for every capability flag.
FLAGS = (
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
COLUMNS = FLAGS[:8]


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


def _global_options(parser: argparse.ArgumentParser, default: object) -> None:
    """``--config`` and ``--debug``, accepted before and after the command.

    The command's copies default to ``SUPPRESS``: given before the command
    only, the top-level value is not overwritten by the command's default.
    """
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="configuration file (default: $G4F_LITE_CONFIG, else ./g4f-lite.toml)",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="debug logging, and tracebacks with errors",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``g4f-lite`` and all its commands."""
    parser = argparse.ArgumentParser(
        prog="g4f-lite", description="Talk to chat-completion providers through one API."
    )
    parser.add_argument("--version", action="version", version=f"g4f-lite {__version__}")
    _global_options(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, **kwargs)
        _global_options(sub, argparse.SUPPRESS)
        return sub

    listing = command(
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
    for label, _field, flag in FLAGS:
        listing.add_argument(
            f"--{flag}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"only providers with (--{flag}) or without (--no-{flag}) '{label}'",
        )
    listing.add_argument("--model", "-m", help="only providers supporting this model")
    listing.add_argument("--plugin", help="only providers from this plugin (or 'config')")

    models = command(
        "models",
        help="list the models of the available providers",
        description="Each available provider's models: its configured ones, or what its "
        "server lists (OpenAI-compatible servers are asked, with a short timeout).",
    )
    models.add_argument("--json", action="store_true", help="print JSON for scripts")
    models.add_argument(
        "--provider", "-p", help="only this provider (asked even if it looks unavailable)"
    )

    chat = command(
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

    check = command(
        "check",
        help="probe providers with a short prompt and print a health table",
        description="Each provider gets one attempt with a short prompt; the exit status "
        "is 1 if any failed.",
    )
    check.add_argument(
        "providers", nargs="*", metavar="PROVIDER", help="default: every working one"
    )
    check.add_argument("--prompt", default="Say OK.", help="what to send (default: %(default)r)")
    check.add_argument("--timeout", type=_seconds, default=30.0, help="seconds per provider")
    check.add_argument("--base-url", help="point the (one) provider at another site")
    check.add_argument("--json", action="store_true", help="print JSON for scripts")

    serve = command("serve", help="run the OpenAI-compatible HTTP server")
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

    demo = command("demo", help="stream an answer from the bundled offline AI Engine emulator")
    demo.add_argument("prompt", nargs="?", default="Hello! What is g4f-lite?")

    scaffold = command(
        "new-provider", help="write a new provider plugin: package, emulator, tests, README"
    )
    scaffold.add_argument("name", help="the provider's name, e.g. my-site (g4f-lite-my-site/)")
    scaffold.add_argument("--kind", choices=("sse", "openai"), default="sse", help="its protocol")
    scaffold.add_argument("--dir", default=".", help="where to write it (default: here)")
    return parser
