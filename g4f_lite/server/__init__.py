"""``g4f-lite serve``: an OpenAI-compatible HTTP server over every registered provider.

>>> from g4f_lite.server import Server, ServerSettings
>>> async with Server(ServerSettings(port=0)) as server:
...     client = openai.AsyncOpenAI(base_url=server.url, api_key="unused")

See ``docs/server.md``. Importing this package imports aiohttp and pydantic;
``import g4f_lite`` does not import it.
"""

from __future__ import annotations

from ._errors import ApiError, api_error
from .app import (
    API_KEY_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    Server,
    ServerSettings,
    create_app,
    serve,
)
from .models import FORBIDDEN_FIELDS

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "FORBIDDEN_FIELDS",
    "ApiError",
    "Server",
    "ServerSettings",
    "api_error",
    "create_app",
    "serve",
]
