"""The ``g4f-lite`` command line.

``providers`` (list, filter), ``models`` (what the available providers
serve), ``chat`` (one-shot, piped or interactive), ``check`` (probe
providers), ``serve`` (the OpenAI-compatible server) and ``demo``. Every
command reads the configuration file (``--config``, else
``$G4F_LITE_CONFIG``, else ``./g4f-lite.toml``); ``--config`` and
``--debug`` go before or after the command.

Errors print one line and exit 1 (2 for bad usage, 130 when interrupted);
``--debug`` adds the traceback and debug logging. Importing this package
loads only :mod:`argparse`; a command imports what it needs when it runs,
so that ``g4f-lite --help`` stays instant.

The modules: ``_parser`` (every command and option), ``_main`` (logging,
dispatch, errors), ``_chat`` (the chat command and session),
``_commands`` (the others), ``_output`` (error wording, table colours),
``_term`` (terminal drawing: tables, spinner, log handler).
"""

from ._main import main
from ._parser import build_parser

# The name the parser had when the command line was one module.
_build_parser = build_parser

__all__ = ["main"]
