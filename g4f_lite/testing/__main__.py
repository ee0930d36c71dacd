"""``python -m g4f_lite.testing``: serve the AI Engine emulator until interrupted.

The site's URL is the first line on standard output (for scripts); a line
for people on standard error says how to use it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from ._aiengine import AIEngineEmulator


async def _serve(args: argparse.Namespace) -> None:
    reply = " ".join(f"w{i}" for i in range(args.reply_words)) if args.reply_words else None
    async with AIEngineEmulator(
        host=args.host, port=args.port, reply=reply, generation=args.generation
    ) as emulator:
        print(emulator.url, flush=True)
        print(
            f"AI Engine emulator (plugin {args.generation}) at {emulator.url}; try: "
            f"g4f-lite chat -p Opchatgpts --base-url {emulator.url} Hello. Ctrl-C stops.",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.Event().wait()


# The module docstring is reStructuredText; --help shows plain text.
_DESCRIPTION = (
    "Serve the AI Engine emulator until interrupted. The site's URL is the first line "
    "on standard output (for scripts); a line for people on standard error says how "
    "to use it."
)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments (``argv``, else the command line's) and serve."""
    parser = argparse.ArgumentParser(prog="python -m g4f_lite.testing", description=_DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--reply-words", type=int, default=0, help="answer with this many words (default: echo)"
    )
    parser.add_argument(
        "--generation",
        choices=["1.9", "2.0", "2.4.4", "2.8.5", "3.x"],
        default="1.9",
        help="the AI Engine plugin generation to play (default: 1.9, no nonce)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
