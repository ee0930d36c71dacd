"""The package's loggers, all below ``g4f_lite``, which has a :class:`logging.NullHandler`.

A library's warnings ("provider X benched") reach whatever logging the
application configured; with none configured, they are not printed on a
script's stderr by logging's last-resort handler. Set up here, by the
modules that log, rather than in ``g4f_lite/__init__.py``: importing
:mod:`logging` costs a third of ``import g4f_lite``.
"""

from __future__ import annotations

import logging

__all__ = ["get_logger"]

logging.getLogger("g4f_lite").addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (a documented ``g4f_lite.*`` name)."""
    return logging.getLogger(name)
