"""Which models the available providers serve, for ``g4f-lite models`` and ``GET /v1/models``.

Each provider says it itself (:meth:`~g4f_lite.provider.BaseProvider.list_models`):
the static ``models``/``default_model`` of its class, or, for the ``openai``
kind, its server's live ``GET /models`` (cached, with a short timeout). Only
providers a call could use now are asked: enabled, working, with
credentials when they need some, and available. Nothing here runs at
import.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pydantic import BaseModel

from .errors import NoProviderAvailableError
from .selection import ADVICE

if TYPE_CHECKING:
    from .provider import BaseProvider
    from .router import Router

__all__ = ["ModelEntry", "alias_providers", "list_models", "usable_providers"]


class ModelEntry(BaseModel):
    """One model one provider serves."""

    provider: str
    model: str


async def usable_providers(router: Router) -> list[type[BaseProvider]]:
    """The providers ``provider=None`` could route to now, in registry order.

    Enabled, working and available (credentials present, local server
    listening: probed first, see :meth:`~g4f_lite.router.Router.adescribe`).
    """
    return [
        router.registry.get(info.name)
        for info in await router.adescribe(available=True, working=True)
        if router.is_enabled(info.name)
    ]


async def _models_of(router: Router, provider: type[BaseProvider]) -> list[str]:
    try:
        return await provider.list_models(**router.kwargs_for(provider, {}))
    except Exception:  # a plugin that broke the "never raises" rule: its static list
        return list(dict.fromkeys([*provider.models, *filter(None, [provider.default_model])]))


async def list_models(
    router: Router | None = None, *, provider: str | None = None
) -> list[ModelEntry]:
    """Every model each usable provider serves (``provider``: that one only, usable or not).

    Providers are asked concurrently. Raises
    :class:`~g4f_lite.errors.NoProviderAvailableError` (with advice on how
    to get one) when no provider is usable; an unknown ``provider`` raises
    :class:`~g4f_lite.errors.ProviderNotFoundError`.
    """
    if router is None:
        from .router import default_router

        router = default_router()
    if provider is not None:
        providers = [router.registry.get(provider)]
    else:
        providers = await usable_providers(router)
        if not providers:
            raise NoProviderAvailableError(f"no provider is available: {ADVICE}")
    lists = await asyncio.gather(*(_models_of(router, p) for p in providers))
    return [
        ModelEntry(provider=p.name, model=model)
        for p, models in zip(providers, lists, strict=True)
        for model in models
    ]


def alias_providers(router: Router, entries: list[ModelEntry]) -> dict[str, list[str]]:
    """The configured aliases that some listed provider can serve, with those providers.

    ``entries`` is a :func:`list_models` result: an alias entry naming a
    provider counts when that provider is listed, a bare model when some
    listed provider serves it.
    """
    listed = {entry.provider for entry in entries}
    serving: dict[str, list[str]] = {}
    for entry in entries:
        serving.setdefault(entry.model, []).append(entry.provider)
    result: dict[str, list[str]] = {}
    for alias, targets in router.config.aliases.items():
        names: list[str] = []
        for target in targets:
            if target.provider is None:
                names += serving.get(target.model, [])
            elif target.provider in listed:
                names.append(target.provider)
        if names:
            result[alias] = list(dict.fromkeys(names))
    return result
