"""``main``: parse the command line, set up logging, run the command, report errors.

Nothing but :mod:`argparse` is imported before the arguments are parsed:
``g4f-lite --help`` and bad usage cost no more than the parser. Each
command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from ._parser import build_parser

__all__ = ["main"]


def _setup_logging(command: str, debug: bool, err: TextIO) -> None:
    import logging

    from ._term import LogHandler

    # Records are written around the spinner, never onto its line.
    handler = LogHandler(err)
    if command == "serve" or debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logging.DEBUG if debug else logging.INFO if command == "serve" else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    out, err, stdin = sys.stdout, sys.stderr, sys.stdin
    _setup_logging(args.command, args.debug, err)

    from ..errors import G4FLiteError, ProviderNotFoundError
    from ._output import report

    try:
        if args.command == "new-provider":
            return _new_provider(args, out)
        if args.command != "demo":
            from ..config import configure

            # --config, $G4F_LITE_CONFIG or ./g4f-lite.toml: declared providers, options.
            configure(args.config)
        return _run(args, out, err, stdin)
    except G4FLiteError as exc:
        report(exc, err, args.debug)
        if args.command == "demo" and isinstance(exc, ProviderNotFoundError):
            err.write(
                "g4f-lite: the demo needs the Opchatgpts plugin: pip install 'g4f-lite[all]'\n"
            )
        return 1
    except KeyboardInterrupt:
        err.write("\n")
        return 130
    except OSError as exc:
        # The machine said no (a port in use, a file not readable, a full
        # disk): the user's to fix, so one line like any other user error.
        report(exc, err, args.debug)
        return 1
    except Exception as exc:
        # A bug, not a user error: still one line, unless --debug asks for more.
        err.write("g4f-lite: internal error (run with --debug for the traceback)\n")
        report(exc, err, args.debug)
        return 1


def _new_provider(args: argparse.Namespace, out: TextIO) -> int:
    """Write a plugin distribution; no configuration or plugin is loaded for it."""
    from ..scaffold import run

    path = run(args.name, args.kind, args.dir)
    out.write(f"wrote {path}\nnext: pip install -e '{path}[test]' && pytest {path}\n")
    return 0


def _run(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """Dispatch to the command's module, imported only now."""
    if args.command == "chat":
        from ._chat import chat

        return chat(args, out, err, stdin)
    from . import _commands

    if args.command == "providers":
        return _commands.list_providers(args, out)
    if args.command == "models":
        return _commands.list_models(args, out)
    if args.command == "check":
        return _commands.check(args, out, err)
    if args.command == "serve":
        return _commands.serve(args, err)
    return _commands.demo(args, out, err)
