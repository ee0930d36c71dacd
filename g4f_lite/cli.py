"""The ``g4f-lite`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .errors import G4FLiteError, ProviderNotFoundError

if TYPE_CHECKING:
    from .types import ProviderHealth

__all__ = ["main"]

_FLAG_COLUMNS = (
    ("working", "working"),
    ("stream", "supports_stream"),
    ("history", "supports_message_history"),
    ("system", "supports_system_message"),
    ("auth", "needs_auth"),
)


# Live health, from the router's store in this process: "ok", "benched 25s"
# or "probe" (cooldown over, next call probes it); successes/failures; the
# moving average of the time to first chunk.
_HEALTH_COLUMNS = ("health", "ok/fail", "ttfc")


def _health_cells(health: ProviderHealth | None) -> list[str]:
    if health is None:
        return ["-", "-", "-"]
    if health.benched:
        state = f"benched {health.cooldown_remaining:.0f}s"
    else:
        state = "probe" if health.state == "half_open" else "ok"
    first_chunk = "-" if health.first_chunk is None else f"{health.first_chunk * 1000:.0f}ms"
    return [state, f"{health.successes}/{health.failures}", first_chunk]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="g4f-lite", description="Talk to chat-completion providers through one API."
    )
    parser.add_argument("--version", action="version", version=f"g4f-lite {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("providers", help="list registered providers")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.add_argument("--working", action="store_true", help="only working providers")
    listing.add_argument("--stream", action="store_true", help="only streaming providers")
    listing.add_argument("--history", action="store_true", help="only providers keeping history")
    listing.add_argument("--model", "-m", help="only providers supporting this model")

    chat = commands.add_parser("chat", help="send one prompt and stream the answer")
    chat.add_argument("prompt", help="the message to send")
    chat.add_argument("--provider", "-p", required=True, help="provider name")
    chat.add_argument("--model", "-m", default="", help="model name (default: the provider's)")
    chat.add_argument("--base-url", help="point the provider at another site")
    chat.add_argument("--timeout", type=float, help="seconds for the whole answer")

    demo = commands.add_parser(
        "demo", help="stream an answer from the bundled offline AI Engine emulator"
    )
    demo.add_argument("prompt", nargs="?", default="Hello! What is g4f-lite?")
    return parser


def _providers(args: argparse.Namespace, out: TextIO) -> int:
    from .registry import providers

    infos = providers(
        working=True if args.working else None,
        supports_stream=True if args.stream else None,
        supports_message_history=True if args.history else None,
        model=args.model,
    )
    if args.json:
        out.write(json.dumps([info.model_dump() for info in infos], indent=2) + "\n")
        return 0
    if not infos:
        out.write("no provider matches\n")
        return 0
    rows = [["name", *(label for label, _ in _FLAG_COLUMNS), *_HEALTH_COLUMNS, "plugin", "url"]]
    for info in infos:
        flags = ["yes" if getattr(info, field) else "-" for _, field in _FLAG_COLUMNS]
        rows.append([info.name, *flags, *_health_cells(info.health), info.plugin, info.url])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            + "\n"
        )
    return 0


async def _stream_to(out: TextIO, provider: str, model: str, prompt: str, **kwargs: Any) -> None:
    from .client import ChatCompletion

    chunks = await ChatCompletion.create_async(
        model, [{"role": "user", "content": prompt}], provider=provider, stream=True, **kwargs
    )
    async for chunk in chunks:
        out.write(chunk)
        out.flush()
    out.write("\n")


def _chat(args: argparse.Namespace, out: TextIO) -> int:
    from .config import provider_options

    # The provider's [providers.NAME] options, overridden by the flags given.
    kwargs: dict[str, Any] = provider_options(args.provider)
    if args.base_url:
        kwargs["base_url"] = args.base_url
    if args.timeout:
        kwargs["timeout"] = args.timeout
    asyncio.run(_stream_to(out, args.provider, args.model, args.prompt, **kwargs))
    return 0


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
        await _stream_to(out, provider.name, "", prompt, base_url=site.url)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        if args.command in ("providers", "chat"):
            from .config import configure

            # $G4F_LITE_CONFIG or ./g4f-lite.toml: declared providers, per-provider options.
            configure()
        if args.command == "providers":
            return _providers(args, out)
        if args.command == "chat":
            return _chat(args, out)
        asyncio.run(_demo_async(args.prompt, out, err))
        return 0
    except G4FLiteError as exc:
        err.write(f"g4f-lite: error: {exc}\n")
        if args.command == "demo" and isinstance(exc, ProviderNotFoundError):
            err.write(
                "g4f-lite: the demo needs the Opchatgpts plugin: pip install 'g4f-lite[all]'\n"
            )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
