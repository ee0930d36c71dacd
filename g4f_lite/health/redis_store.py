"""A :class:`~g4f_lite.health.HealthStore` shared by several processes through Redis.

Several ``serve`` instances behind one load balancer see one health: a
provider benched by one is benched for all, the half-open probe after a
cooldown is sent by one instance only, the ``fastest`` strategy orders by
everyone's latency, and ``rpm``/``tpm`` limits hold across them.

How it stays as cheap as the memory store on the hot path: the router asks
:meth:`RedisHealthStore.admit` synchronously on every call, so each instance
keeps a *mirror* (an :class:`~g4f_lite.health.InMemoryHealthStore`) that it
reads without any round trip. Outcomes are applied to the mirror at once and
written through to Redis by one background task, several per pipeline
(successes of a target coalesced), by Lua scripts, each atomic; every
script answers the target's whole state, which replaces the mirror's, and
the mirror is refreshed from Redis every ``refresh`` seconds, so a trip by
another instance is seen here within that time. Only the decisions that two
instances must never both take go to Redis before the request: claiming the
half-open probe (:meth:`admit_remote`) and a rate-limit slot (:meth:`acquire`).

Redis unreachable or slower than ``timeout``: one warning, and the mirror
carries on alone (health and rate limits per process), so no request fails
because of Redis. Once a ping answers again, the targets benched here
meanwhile are written back and the mirror reloaded; one line says so.

Times are the router's ``now``; shared between processes they must come
from one clock, wall time (:class:`~g4f_lite.clock.WallClock`, this store's
``clock``, which a :class:`~g4f_lite.router.Router` given this store uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..clock import WallClock
from ..redact import mask_url, scrub
from ..types import ProviderHealth
from .limits import RateLimit
from .memory import (
    _ADMITTED,
    Admission,
    CircuitBreaker,
    InMemoryHealthStore,
    _canonical,
    _State,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisHealthStore"]

logger = get_logger("g4f_lite.health")

_EWMA_ALPHA = 0.3
# Seconds successes wait to be written together: no one waits on them, and
# at a steady rate this makes their cost a round trip per target per interval.
_COALESCE = 0.02
# Latency samples sent per coalesced success: older ones weigh < 0.1 % in the average.
_MAX_SAMPLES = 20

# The fields of a target's hash, in the order every script answers them.
_LUA_STATE = """
local FIELDS = {'state', 'successes', 'failures', 'consecutive', 'trips', 'benched_until',
                'probe_until', 'latency', 'first_chunk', 'last_error', 'auth_error'}
local function dump(k)
  local v = redis.call('HMGET', k, unpack(FIELDS))
  for i = 1, #v do if not v[i] then v[i] = '' end end
  return v
end
local function num(k, f)
  return tonumber(redis.call('HGET', k, f) or '0') or 0
end
"""

# KEYS: target hash, index set. ARGV: now, lease, owner.
# Answers {verdict, retry_after, state...}: "probe" (claimed), "open", "busy", "closed".
_CLAIM = (
    _LUA_STATE
    + """
local k, now = KEYS[1], tonumber(ARGV[1])
local state = redis.call('HGET', k, 'state') or 'closed'
local verdict, wait = 'closed', 0
if state == 'open' and now < num(k, 'benched_until') then
  verdict, wait = 'open', num(k, 'benched_until') - now
elseif state ~= 'closed' then
  if state == 'half_open' and num(k, 'probe_until') > now then
    verdict = 'busy'
  else
    redis.call('HSET', k, 'state', 'half_open', 'probe_until', tostring(now + tonumber(ARGV[2])),
               'probe_owner', ARGV[3])
    redis.call('SADD', KEYS[2], k)
    verdict = 'probe'
  end
end
local out = {verdict, tostring(wait)}
for _, v in ipairs(dump(k)) do table.insert(out, v) end
return out
"""
)

# KEYS: target hash, index set. ARGV: alpha, count, then (elapsed, first_chunk or '') pairs.
_SUCCESS = (
    _LUA_STATE
    + """
local k, alpha = KEYS[1], tonumber(ARGV[1])
redis.call('HINCRBY', k, 'successes', tonumber(ARGV[2]))
redis.call('HSET', k, 'state', 'closed', 'consecutive', '0', 'trips', '0', 'probe_until', '0')
redis.call('HDEL', k, 'auth_error', 'probe_owner')
local latency = redis.call('HGET', k, 'latency')
local first = redis.call('HGET', k, 'first_chunk')
latency = latency and tonumber(latency)
first = first and tonumber(first)
for i = 3, #ARGV, 2 do
  local e = tonumber(ARGV[i])
  if latency then latency = latency + alpha * (e - latency) else latency = e end
  if ARGV[i + 1] ~= '' then
    local f = tonumber(ARGV[i + 1])
    if first then first = first + alpha * (f - first) else first = f end
  end
end
if latency then redis.call('HSET', k, 'latency', tostring(latency)) end
if first then redis.call('HSET', k, 'first_chunk', tostring(first)) end
redis.call('SADD', KEYS[2], k)
local out = {''}
for _, v in ipairs(dump(k)) do table.insert(out, v) end
return out
"""
)

# KEYS: target hash, index set. ARGV: now, error, threshold, cooldown, factor, max_cooldown.
# Answers {cooldown or '', state...}.
_FAILURE = (
    _LUA_STATE
    + """
local k, now = KEYS[1], tonumber(ARGV[1])
local state = redis.call('HGET', k, 'state') or 'closed'
redis.call('HINCRBY', k, 'failures', 1)
local consecutive = redis.call('HINCRBY', k, 'consecutive', 1)
redis.call('HSET', k, 'last_error', ARGV[2], 'probe_until', '0')
redis.call('HDEL', k, 'probe_owner')
redis.call('SADD', KEYS[2], k)
local cooldown = ''
if state == 'half_open' or consecutive >= tonumber(ARGV[3]) then
  local trips = redis.call('HINCRBY', k, 'trips', 1)
  local seconds = math.min(tonumber(ARGV[6]), tonumber(ARGV[4]) * tonumber(ARGV[5]) ^ (trips - 1))
  redis.call('HSET', k, 'state', 'open', 'benched_until', tostring(now + seconds))
  cooldown = tostring(seconds)
elseif state ~= 'open' then
  redis.call('HSET', k, 'state', state)
end
local out = {cooldown}
for _, v in ipairs(dump(k)) do table.insert(out, v) end
return out
"""
)

# KEYS: target hash, index set. ARGV: error, owner.
_AUTH = (
    _LUA_STATE
    + """
local k = KEYS[1]
redis.call('HSET', k, 'auth_error', ARGV[1], 'last_error', ARGV[1])
if redis.call('HGET', k, 'probe_owner') == ARGV[2] then
  redis.call('HSET', k, 'probe_until', '0')
end
if not redis.call('HGET', k, 'state') then redis.call('HSET', k, 'state', 'closed') end
redis.call('SADD', KEYS[2], k)
local out = {''}
for _, v in ipairs(dump(k)) do table.insert(out, v) end
return out
"""
)

# KEYS: target hash. ARGV: owner. Gives back a probe only if this instance holds it.
_RELEASE = (
    _LUA_STATE
    + """
local k = KEYS[1]
if redis.call('HGET', k, 'probe_owner') == ARGV[1] then
  redis.call('HSET', k, 'probe_until', '0')
  redis.call('HDEL', k, 'probe_owner')
end
local out = {''}
for _, v in ipairs(dump(k)) do table.insert(out, v) end
return out
"""
)

# KEYS: index set. ARGV: now. A benched target written back after an outage, unless
# Redis holds a longer bench. ARGV after now: (hash key, benched_until, trips, error) groups.
_MERGE = """
for i = 2, #ARGV, 4 do
  local k = ARGV[i]
  local mine = tonumber(ARGV[i + 1])
  local theirs = tonumber(redis.call('HGET', k, 'benched_until') or '0') or 0
  if redis.call('HGET', k, 'state') ~= 'open' or theirs < mine then
    redis.call('HSET', k, 'state', 'open', 'benched_until', ARGV[i + 1], 'last_error', ARGV[i + 3])
    local trips = tonumber(redis.call('HGET', k, 'trips') or '0') or 0
    if trips < tonumber(ARGV[i + 2]) then redis.call('HSET', k, 'trips', ARGV[i + 2]) end
    if not redis.call('HGET', k, 'consecutive') then redis.call('HSET', k, 'consecutive', '0') end
    redis.call('SADD', KEYS[1], k)
  end
end
return 1
"""

# KEYS: index set. Answers {hash key, state...} for every target.
_DUMP_ALL = (
    _LUA_STATE
    + """
local out = {}
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', k) == 1 then
    table.insert(out, k)
    for _, v in ipairs(dump(k)) do table.insert(out, v) end
  else
    redis.call('SREM', KEYS[1], k)
  end
end
return out
"""
)

# KEYS: index set, rate-limit index set. ARGV: hash-key prefix, provider name ('' for
# all, rate limits too), separator.
_RESET = """
local removed = 0
if ARGV[2] == '' then
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('DEL', k) end
  redis.call('DEL', KEYS[2])
end
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = string.sub(k, #ARGV[1] + 1)
  local head = string.sub(key, 1, #ARGV[2] + #ARGV[3])
  if ARGV[2] == '' or key == ARGV[2] or head == ARGV[2] .. ARGV[3] then
    redis.call('DEL', k)
    redis.call('SREM', KEYS[1], k)
    removed = removed + 1
  end
end
return removed
"""

# KEYS: requests zset, tokens zset. ARGV: now, window, rpm or '', tpm or '', member.
# Answers {'' (taken) or the reason, seconds until a slot frees}.
_ACQUIRE = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local since = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', since)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', since)
if ARGV[4] ~= '' then
  local tpm = tonumber(ARGV[4])
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local total = 0
  for i = 1, #entries, 2 do
    total = total + tonumber(string.match(entries[i], ':(%d+)$'))
  end
  if total >= tpm then
    for i = 1, #entries, 2 do
      total = total - tonumber(string.match(entries[i], ':(%d+)$'))
      if total < tpm then
        return {'tpm', tostring(tonumber(entries[i + 1]) + window - now)}
      end
    end
  end
end
if ARGV[3] ~= '' then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'rpm', tostring(tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  redis.call('SADD', KEYS[3], KEYS[1], KEYS[2])
end
return {'', '0'}
"""

# KEYS: tokens zset. ARGV: now, window, member ("id:tokens").
_USAGE = """
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""

_FORGET = "return redis.call('DEL', unpack(KEYS))"

_SCRIPTS = {
    "ping": "return 1",
    "forget": _FORGET,
    "claim": _CLAIM,
    "success": _SUCCESS,
    "failure": _FAILURE,
    "auth": _AUTH,
    "release": _RELEASE,
    "merge": _MERGE,
    "dump_all": _DUMP_ALL,
    "reset": _RESET,
    "acquire": _ACQUIRE,
    "usage": _USAGE,
}


class _Op:
    """One script call waiting for the writer; ``future`` for those the router awaits."""

    __slots__ = ("args", "future", "key", "keys", "samples", "script", "successes")

    def __init__(
        self,
        script: str,
        keys: list[str],
        args: list[Any],
        key: str | None = None,
        future: asyncio.Future[Any] | None = None,
    ) -> None:
        self.script = script
        self.keys = keys
        self.args = args
        #: The health key whose state the answer carries (None: no state).
        self.key = key
        self.future = future
        self.successes = 0
        self.samples: list[tuple[float, float | None]] = []


def _float(text: Any) -> float | None:
    if text in (None, "", b""):
        return None
    return float(text)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisHealthStore:
    """Health and rate limits shared through Redis, read from a local mirror.

    ``url``: ``redis://host:port/db`` (``rediss://``, ``unix://``; a password
    in the URL is never shown). ``prefix`` starts every key (instances that
    should share health use the same). ``timeout``: seconds a Redis command
    may take before the store falls back to this process's memory.
    ``refresh``: seconds between reloads of the mirror (and pings while
    Redis is away). ``probe_lease``: how long a claimed half-open probe
    holds before another instance may probe (an instance that dies
    mid-probe does not bench the target forever).
    """

    #: Shared times must be on one clock: the router given this store uses it.
    clock = WallClock()

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "g4f_lite:",
        timeout: float = 0.05,
        refresh: float = 0.5,
        probe_lease: float = 120.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if timeout <= 0 or refresh <= 0 or probe_lease <= 0:
            raise ValueError("timeout, refresh and probe_lease must be positive")
        import redis.asyncio  # noqa: F401  (the extra is missing: say so now, not mid-request)

        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.refresh = refresh
        self.probe_lease = probe_lease
        self.breaker = breaker or CircuitBreaker()
        #: What this process knows, read on every call; alone while Redis is away.
        self.mirror = InMemoryHealthStore(self.breaker)
        self._index = f"{prefix}targets"
        self._rates = f"{prefix}rates"
        self._owner = f"{os.getpid()}-{id(self):x}"
        self._ids = itertools.count()
        #: True: Redis answered last; False: away (the mirror serves); None: not tried yet.
        self.connected: bool | None = None
        self.last_error: str | None = None
        self._probes: set[str] = set()
        # Ops per target written but not answered yet: until the last is, Redis's
        # answers are older than the mirror and must not replace it.
        self._unanswered: dict[str, int] = {}
        self._ops: list[_Op] = []
        self._coalescing: dict[str, _Op] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._shas: dict[str, str] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisHealthStore({mask_url(self.url)!r}, prefix={self.prefix!r})"

    # -- the background side --------------------------------------------------------

    def _ensure(self) -> bool:
        """Start the writer and refresher on the running loop; False outside any loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if loop is self._loop:
            return True
        if self._closed:
            return False
        # A new loop (the first, or a test's next): the old client belongs to the old one.
        from redis.asyncio import Redis

        self._loop = loop
        self._shas = {}
        self._client = Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry_on_timeout=False,
        )
        self._wake = asyncio.Event()
        if self._ops:
            self._wake.set()
        self._tasks = [
            loop.create_task(self._writer(), name="g4f-lite health writer"),
            loop.create_task(self._refresher(), name="g4f-lite health refresher"),
        ]
        return True

    async def aclose(self) -> None:
        """Write what is pending (if Redis answers), stop the tasks, close the connection."""
        self._closed = True
        # Bounded: closing never waits on a Redis that does not answer.
        bound = self.timeout * 4 + 0.1
        if self._ops and self.connected and self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._send(self._take()), bound)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=bound)
        self._tasks = []
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.aclose(), bound)
        self._client, self._loop = None, None

    async def flush(self) -> None:
        """Wait until what this store wrote so far is in Redis (or Redis is found away)."""
        if self.connected is False or not self._ensure():
            return
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._push(_Op("ping", [], [], future=future))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(future, self.timeout * 4 + 0.1)

    async def reload(self) -> None:
        """Replace the mirror by Redis's state now, rather than at the next refresh."""
        if self.connected is not False and self._ensure():
            try:
                await self._reload()
            except Exception as exc:
                self._away(exc)
            else:
                if self.connected is None:
                    self._back()

    def _take(self) -> list[_Op]:
        ops, self._ops = self._ops, []
        self._coalescing.clear()
        return ops

    def _push(self, op: _Op) -> None:
        self._ops.append(op)
        if op.key is not None:
            self._unanswered[op.key] = self._unanswered.get(op.key, 0) + 1
        if op.key is not None and op.script != "success":
            self._coalescing.pop(op.key, None)
        if self._ensure() and self._wake is not None:
            self._wake.set()

    async def _writer(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            if all(op.script == "success" for op in self._ops):
                # Only successes: wait a little for more to share the round trip.
                await asyncio.sleep(_COALESCE)
            self._wake.clear()
            if not self._ops:
                continue
            if self.connected is False:
                # Away: the mirror has every outcome; what waits for an answer gets none.
                for op in self._take():
                    if op.key is not None:
                        self._answered(op.key)
                    if op.future is not None and not op.future.done():
                        op.future.set_result(None)
                continue
            ops = self._take()
            try:
                await self._send(ops)
            except Exception as exc:
                self._away(exc)
                for op in ops:
                    if op.key is not None:
                        self._answered(op.key)
                    if op.future is not None and not op.future.done():
                        op.future.set_result(None)

    async def _send(self, ops: Sequence[_Op]) -> None:
        """Run ``ops`` in one pipeline; apply each answer to the mirror or its future."""
        client = self._client
        assert client is not None
        if not self._shas:
            await self._load_scripts()
        for _ in range(2):
            pipe = client.pipeline(transaction=False)
            for op in ops:
                args = op.args
                if op.script == "success":
                    args = [_EWMA_ALPHA, op.successes]
                    for elapsed, first in op.samples:
                        args += [elapsed, "" if first is None else first]
                pipe.evalsha(self._shas[op.script], len(op.keys), *op.keys, *args)
            results = await pipe.execute(raise_on_error=False)
            if any("NOSCRIPT" in str(r) for r in results if isinstance(r, Exception)):
                await self._load_scripts()  # Redis restarted: its script cache is empty
                continue
            break
        for op, result in zip(ops, results, strict=True):
            if isinstance(result, Exception):
                if op.key is not None:
                    self._answered(op.key)
                if op.future is not None and not op.future.done():
                    op.future.set_exception(result)
                continue
            if op.key is not None and self._answered(op.key):
                self._merge(op.key, result[-11:])
            if op.future is not None and not op.future.done():
                op.future.set_result(result)
        if not self.connected:
            self._back()

    async def _call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run one script now, for an answer the router waits for; ``None``: Redis is away."""
        if self.connected is False or not self._ensure():
            return None
        client = self._client
        assert client is not None
        try:
            if not self._shas:
                await self._load_scripts()
            try:
                result = await client.evalsha(self._shas[script], len(keys), *keys, *args)
            except Exception as exc:
                if "NOSCRIPT" not in str(exc):
                    raise
                await self._load_scripts()  # Redis restarted: its script cache is empty
                result = await client.evalsha(self._shas[script], len(keys), *keys, *args)
        except Exception as exc:
            self._away(exc)
            return None
        if not self.connected:
            self._back()
        return result

    async def _load_scripts(self) -> None:
        assert self._client is not None
        for name, source in _SCRIPTS.items():
            self._shas[name] = _text(await self._client.script_load(source))

    async def _refresher(self) -> None:
        while True:
            try:
                if self.connected is False:
                    await self._resync()
                else:
                    await self._reload()
                    if self.connected is None:
                        self._back()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._away(exc)
            await asyncio.sleep(self.refresh)

    async def _reload(self) -> None:
        """Replace the mirror's state by Redis's, for every target Redis knows."""
        assert self._client is not None
        if not self._shas:
            await self._load_scripts()
        try:
            flat = await self._client.evalsha(self._shas["dump_all"], 1, self._index)
        except Exception as exc:
            if "NOSCRIPT" not in str(exc):
                raise
            await self._load_scripts()
            flat = await self._client.evalsha(self._shas["dump_all"], 1, self._index)
        size = len(self.prefix) + 2
        known = set()
        for i in range(0, len(flat), 12):
            key = _text(flat[i])[size:]
            known.add(key)
            if key not in self._unanswered:
                self._merge(key, flat[i + 1 : i + 12])
        # Forgotten in Redis (a reset elsewhere), unless this process has news to write.
        with self.mirror._lock:
            for key in [
                k for k in self.mirror._states if k not in known and k not in self._unanswered
            ]:
                del self.mirror._states[key]

    async def _resync(self) -> None:
        """Redis is back: write back what was benched meanwhile, then reload the mirror."""
        assert self._client is not None
        await self._client.ping()
        self._shas = {}
        await self._load_scripts()
        now = self.clock.now()
        args: list[Any] = [now]
        with self.mirror._lock:
            for key, state in self.mirror._states.items():
                if state.state == "open" and state.benched_until > now:
                    args += [
                        self._hash(key),
                        state.benched_until,
                        state.trips,
                        state.last_error or "",
                    ]
        if len(args) > 1:
            await self._client.evalsha(self._shas["merge"], 1, self._index, *args)
        await self._reload()
        self._back(resynced=True)

    def _away(self, exc: BaseException) -> None:
        self.last_error = scrub(f"{type(exc).__name__}: {exc}")
        if self.connected is not False:
            logger.warning(
                "shared health store %s unreachable (%s); each instance keeps its own "
                "health and rate limits until it is back",
                mask_url(self.url),
                self.last_error,
            )
        self.connected = False
        self._shas = {}

    def _back(self, *, resynced: bool = False) -> None:
        if resynced:
            logger.warning(
                "shared health store %s is back; health resynchronised", mask_url(self.url)
            )
        self.connected = True
        self.last_error = None

    def _answered(self, key: str) -> bool:
        """Count an answer for ``key``; whether it was the last one awaited."""
        left = self._unanswered.get(key, 1) - 1
        if left > 0:
            self._unanswered[key] = left
            return False
        self._unanswered.pop(key, None)
        return True

    def _hash(self, key: str) -> str:
        return f"{self.prefix}h:{key}"

    def _merge(self, key: str, fields: Sequence[Any]) -> None:
        """Put Redis's state of ``key`` (the scripts' field order) in the mirror."""
        values = [_text(v) for v in fields]
        state_name = values[0] or "closed"
        mirror = self.mirror
        with mirror._lock:
            s = mirror._states.get(key)
            if s is None:
                s = mirror._states[_canonical(key)] = _State()
            s.state = state_name  # type: ignore[assignment]
            s.successes = int(values[1] or 0)
            s.failures = int(values[2] or 0)
            s.consecutive = int(values[3] or 0)
            s.trips = int(values[4] or 0)
            s.benched_until = float(values[5] or 0)
            s.probing = key in self._probes
            s.latency = _float(values[7])
            s.first_chunk = _float(values[8])
            s.last_error = values[9] or None
            s.auth_error = values[10] or None

    # -- the HealthStore protocol ------------------------------------------------------

    def admit(self, provider: str, now: float) -> Admission:
        """From the mirror: closed, or benched; past a cooldown, ask Redis (``remote``)."""
        state = self.mirror._states.get(provider)
        if state is None or state.state == "closed":
            if self.connected is None and self._ensure():
                # Nothing loaded from Redis yet: it knows better than the empty mirror.
                return _REMOTE
            return _ADMITTED
        if not self.connected or not self._ensure():
            return self.mirror.admit(provider, now)
        if state.state == "open" and now < state.benched_until:
            return Admission(
                False,
                retry_after=state.benched_until - now,
                reason=f"{state.consecutive} consecutive failures, last {state.last_error}",
            )
        return _REMOTE

    async def admit_remote(self, provider: str, now: float) -> Admission:
        """Claim the half-open probe in Redis: one instance gets it, the others wait."""
        result = await self._call(
            "claim", [self._hash(provider), self._index], [now, self.probe_lease, self._owner]
        )
        if result is None:
            return self.mirror.admit(provider, now)
        if provider not in self._unanswered:
            self._merge(provider, result[-11:])
        verdict = _text(result[0])
        if verdict == "probe":
            self._probes.add(provider)
            with self.mirror._lock:
                state = self.mirror._states.get(provider)
                if state is not None:
                    state.probing = True
            return Admission(True, probe=True)
        if verdict == "open":
            return Admission(
                False, retry_after=float(result[1]), reason="benched by another instance"
            )
        if verdict == "busy":
            return Admission(False, reason="another instance is probing it")
        return _ADMITTED

    def record_success(
        self, provider: str, now: float, *, elapsed: float, first_chunk: float | None
    ) -> None:
        """Apply to the mirror; write through, coalesced with this target's other successes."""
        self.mirror.record_success(provider, now, elapsed=elapsed, first_chunk=first_chunk)
        self._probes.discard(provider)
        op = self._coalescing.get(provider)
        if op is None:
            op = self._coalescing[provider] = _Op(
                "success", [self._hash(provider), self._index], [], provider
            )
            self._push(op)
        op.successes += 1
        op.samples.append((elapsed, first_chunk))
        if len(op.samples) > _MAX_SAMPLES:
            del op.samples[0]

    def record_failure(self, provider: str, now: float, error: str) -> float | None:
        """Apply to the mirror (its answer is returned) and write through at once."""
        cooldown = self.mirror.record_failure(provider, now, error)
        self._probes.discard(provider)
        b = self.breaker
        self._push(
            _Op(
                "failure",
                [self._hash(provider), self._index],
                [now, error, b.failure_threshold, b.cooldown, b.cooldown_factor, b.max_cooldown],
                provider,
            )
        )
        return cooldown

    def record_auth_failure(self, provider: str, now: float, error: str) -> None:
        """Mark ``auth_failed`` here and in Redis; the breaker does not move."""
        self.mirror.record_auth_failure(provider, now, error)
        self._probes.discard(provider)
        self._push(_Op("auth", [self._hash(provider), self._index], [error, self._owner], provider))

    def release(self, provider: str) -> None:
        """Give back a probe this instance holds (nothing to write otherwise)."""
        self.mirror.release(provider)
        if provider in self._probes:
            self._probes.discard(provider)
            self._push(_Op("release", [self._hash(provider)], [self._owner], provider))

    def snapshot(self, provider: str, now: float) -> ProviderHealth:
        """From the mirror (at most ``refresh`` seconds behind the other instances)."""
        return self.mirror.snapshot(provider, now)

    def snapshots(self, provider: str, now: float) -> dict[str, ProviderHealth]:
        """Every target of ``provider`` the mirror knows, by target."""
        return self.mirror.snapshots(provider, now)

    def reset(self, provider: str | None = None) -> None:
        """Forget here and, for every instance, in Redis."""
        self.mirror.reset(provider)
        self._probes.clear()
        name = "" if provider is None else _canonical(provider)
        self._push(_Op("reset", [self._index, self._rates], [f"{self.prefix}h:", name, " @ "]))
        if provider is not None:
            base = name.partition(" @ ")[0]
            self._push(_Op("forget", [self._rate(base, "req"), self._rate(base, "tok")], []))

    # -- rate limits ------------------------------------------------------------------

    def _rate(self, name: str, kind: str) -> str:
        return f"{self.prefix}rate:{name}:{kind}"

    async def acquire(self, name: str, now: float, limit: RateLimit) -> Admission:
        """A request slot in Redis's window (all instances count); the mirror's while away."""
        if self.connected is False or not self._ensure():
            return await self.mirror.acquire(name, now, limit)
        member = f"{self._owner}-{next(self._ids)}"
        result = await self._call(
            "acquire",
            [self._rate(name, "req"), self._rate(name, "tok"), self._rates],
            [
                now,
                limit.window,
                "" if limit.rpm is None else limit.rpm,
                "" if limit.tpm is None else limit.tpm,
                member,
            ],
        )
        if result is None:
            return await self.mirror.acquire(name, now, limit)
        # The mirror counts too, so that an outage starts from what was sent.
        self.mirror.limiter.acquire(name, now, RateLimit(window=limit.window))
        kind = _text(result[0])
        if not kind:
            return _ADMITTED
        reason = limit.refused_requests() if kind == "rpm" else limit.refused_tokens()
        return Admission(False, retry_after=max(float(result[1]), 0.0), reason=reason)

    def record_usage(self, name: str, now: float, tokens: int) -> None:
        """Count ``tokens`` against ``name``'s tokens per minute, here and in Redis."""
        if tokens <= 0:
            return
        self.mirror.record_usage(name, now, tokens)
        member = f"{self._owner}-{next(self._ids)}:{tokens}"
        self._push(_Op("usage", [self._rate(name, "tok"), self._rates], [now, 60.0, member]))

    # -- reporting ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """For ``/health``: which store, and whether Redis answers (secrets masked)."""
        state = {True: "connected", False: "fallback", None: "connecting"}[self.connected]
        return {
            "kind": "redis",
            "url": mask_url(self.url),
            "state": state,
            "shared": bool(self.connected),
            "error": self.last_error,
        }


# The answer that sends the router to admit_remote: built once.
_REMOTE = Admission(False, remote=True)
