"""The commands other than ``chat``: providers, models, check, serve, demo."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from ..errors import ConfigurationError, G4FLiteError
from ._chat import ChatPlan, Loop, answer
from ._output import health_cells, one_line, paint
from ._parser import COLUMNS, FLAGS
from ._term import Spinner, render_table, use_color

__all__ = ["check", "demo", "list_models", "list_providers", "serve"]

# Live health, from the router's store in this process: "ok", "benched 25s",
# "probe" (cooldown over, next call probes it) or "auth failed" (credentials
# refused: fix the configuration); successes/failures; the moving average of
# the time to first chunk. Health is per target: a provider called at other
# base_urls gets one more row for each, its url column naming the target.
_HEALTH_COLUMNS = ("health", "ok/fail", "ttfc")
# The available column: usable now, not (no key, nothing listening), not probed.
_AVAILABLE = {True: "yes", False: "no", None: "?"}


# -- providers -----------------------------------------------------------------------


def list_providers(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``g4f-lite providers``."""
    from ..client import providers

    filters = {field: getattr(args, flag.replace("-", "_")) for _, field, flag in FLAGS}
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
        *(label for label, _, _ in COLUMNS),
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
                *("yes" if getattr(info, field) else "-" for _, field, _ in COLUMNS),
                *health_cells(info.health),
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
                *("" for _ in COLUMNS),
                *health_cells(target),
                "",
                target.target or "-",
            ]
            for target in info.targets[1:]
        )
    out.write(render_table(header, rows, color=use_color(out), paint=paint))
    return 0


# -- models -------------------------------------------------------------------------


def list_models(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``g4f-lite models``."""
    from ..models import list_models as models_of

    loop = Loop()
    try:
        entries = loop.run(lambda: models_of(provider=args.provider))
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
    out.write(render_table(["provider", "model"], rows, color=use_color(out), paint=paint))
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


async def _probe(name: str, prompt: str, timeout: float, kwargs: dict[str, Any]) -> _Probe:
    from ..client import ChatCompletion
    from ..health import InMemoryHealthStore
    from ..policies import RetryPolicy
    from ..provider import close_stream
    from ..router import Router

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
            **kwargs,
        )
        try:
            async for chunk in chunks:
                first = first if first is not None else time.monotonic() - started
                chars += len(chunk)
        finally:
            await close_stream(chunks)
    except G4FLiteError as exc:
        total = _ms(time.monotonic() - started) or 0.0
        return _Probe(name, False, _ms(first), total, chars, _keep_ends(one_line(exc), 600))
    return _Probe(name, True, _ms(first), _ms(time.monotonic() - started) or 0.0, chars, None)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _keep_ends(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, keeping its start and its end.

    An error's start names the provider and the failure; its end often
    holds the reason (an upstream's own message): neither is cut.
    """
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]} ... {text[-(limit - head - 5) :]}"


async def _check_all(
    names: list[str], prompt: str, timeout: float, kwargs: dict[str, Any], err: TextIO
) -> list[_Probe]:
    import asyncio

    results: dict[str, _Probe] = {}
    label = f"checking {len(names)} provider(s)"
    async with Spinner(err, label=f"{label}: 0/{len(names)} done") as spinner:

        async def one(name: str) -> None:
            results[name] = await _probe(name, prompt, timeout, kwargs)
            spinner.label = f"{label}: {len(results)}/{len(names)} done, last {name}"

        await asyncio.gather(*(one(name) for name in names))
    return [results[name] for name in names]


def check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``g4f-lite check``; 1 if any provider failed."""
    from ..client import providers
    from ..config import is_enabled
    from ..registry import get_provider

    if args.providers:
        names = list(dict.fromkeys(get_provider(name).name for name in args.providers))
    else:
        names = [info.name for info in providers(working=True) if is_enabled(info.name)]
    if args.base_url and len(names) != 1:
        raise ConfigurationError("--base-url needs exactly one PROVIDER to check")
    if not names:
        out.write("no working provider to check; name some: g4f-lite check NAME...\n")
        return 0
    kwargs: dict[str, Any] = {"base_url": args.base_url} if args.base_url else {}
    loop = Loop()
    try:
        results = loop.run(lambda: _check_all(names, args.prompt, args.timeout, kwargs, err))
    finally:
        loop.close()
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
                r.error or "",
            ]
            for r in results
        ]
        out.write(render_table(header, rows, color=use_color(out), paint=paint))
    return 0 if all(result.ok for result in results) else 1


# -- serve ----------------------------------------------------------------------------


def serve(args: argparse.Namespace, err: TextIO) -> int:
    """Run ``g4f-lite serve`` until interrupted."""
    from ..server import Server, ServerSettings
    from ..server import serve as run_server

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

    try:
        run_server(settings, on_ready=ready)
    except OSError as exc:
        # Mostly "address already in use": the user's to fix, not a bug.
        reason = exc.strerror or str(exc)
        where = f"{settings.host}:{settings.port}"
        raise ConfigurationError(f"cannot serve on {where}: {reason.lower()}") from exc
    err.write("g4f-lite: server stopped\n")
    return 0


# -- demo -----------------------------------------------------------------------------


async def _demo_async(prompt: str, out: TextIO, err: TextIO) -> None:
    from ..registry import get_provider
    from ..testing import AIEngineEmulator

    provider = get_provider("Opchatgpts")
    reply = (
        "Hi! I am an emulated WordPress AI Engine site running on your machine. "
        f"g4f-lite sent your message ({prompt!r}) through the {provider.name} provider plugin, "
        "which it discovered through the g4f_lite entry point, and is streaming my answer "
        "to you chunk by chunk, all offline."
    )
    async with AIEngineEmulator(reply=reply) as site:
        err.write(f"[demo] emulated AI Engine site at {site.url}; streaming via {provider.name}\n")
        plan = ChatPlan(provider.name, "", None, {"base_url": site.url}, stream=True)
        await answer(plan, [{"role": "user", "content": prompt}], out, err)


def demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``g4f-lite demo``."""
    import asyncio

    asyncio.run(_demo_async(args.prompt, out, err))
    return 0
