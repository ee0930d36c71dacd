"""Configuration that is accepted works: strict [router] tables, finite limits, masked secrets."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import g4f_lite
from g4f_lite import config
from g4f_lite.cli import main as cli_main
from g4f_lite.errors import ConfigurationError
from g4f_lite.policies import RetryPolicy, Timeouts, check_non_negative, check_positive
from g4f_lite.router import Router
from g4f_lite.router_settings import RouterSettings, validate_router_table
from g4f_lite.testing import AIEngineEmulator

HELLO = [{"role": "user", "content": "Hello there"}]
SECRET = "sk-live-0123456789abcdef"
# What a message made from Python internals would show.
INTERNALS = ("pydantic", "input_type", "input_value", "TypeError", "__init__", "errors.pydantic")


def refused(source: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        g4f_lite.configure(source)
    message = str(caught.value)
    for word in INTERNALS:
        assert word not in message
    return message


# -- [router]: strict types, finite numbers, named keys --------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("strategy = 0", r"\[router\] key 'strategy' must be a string"),
        ("max_providers = 0", r"\[router\] key 'max_providers' must be at least 1"),
        ("max_providers = 2.5", r"\[router\] key 'max_providers' must be a whole number"),
        ("max_providers = true", r"\[router\] key 'max_providers' must be a whole number"),
        ('wait_for_cooldown = "no"', r"\[router\] key 'wait_for_cooldown' must be true or false"),
        ("wait_for_cooldown = 0", r"\[router\] key 'wait_for_cooldown' must be true or false"),
        ("max_cooldown_wait = -1", r"\[router\] key 'max_cooldown_wait' must be at least 0"),
        ("max_cooldown_wait = inf", r"\[router\] key 'max_cooldown_wait' must be a finite"),
        ('max_cooldown_wait = "10"', r"\[router\] key 'max_cooldown_wait' must be a number"),
        ("retry = { initial = inf }", r"\[router.retry\] key 'initial' must be a finite number"),
        ("retry = { jitter = nan }", r"\[router.retry\] key 'jitter' must be a finite number"),
        ("retry = { max_wait = -0.5 }", r"\[router.retry\] key 'max_wait' must be at least 0"),
        ("retry = { max_attempts = 0 }", r"\[router.retry\] key 'max_attempts' must be at least 1"),
        ("retry = { max_attempts = 2.0 }", r"\[router.retry\] key 'max_attempts' must be a whole"),
        ("retry = 3", r"\[router.retry\] must be a table"),
        ("timeouts = { total = inf }", r"\[router.timeouts\] key 'total' must be a finite number"),
        ("timeouts = { idle = -inf }", r"\[router.timeouts\] key 'idle' must be a finite number"),
        ("timeouts = { connect = 0 }", r"\[router.timeouts\] key 'connect' must be more than 0"),
        ('timeouts = { first_chunk = "5" }', r"\[router.timeouts\] key 'first_chunk' must be a"),
        (
            "retry = { max_attemps = 2 }",
            r"\[router.retry\] unknown key 'max_attemps' \(allowed: initial, jitter, "
            r"max_attempts, max_retry_after, max_wait\)",
        ),
        (
            "timeout = 5",
            r"\[router\] unknown key 'timeout' \(allowed: health_store, max_cooldown_wait, "
            r"max_providers, retry, strategy, timeouts, wait_for_cooldown\)",
        ),
    ],
)
def test_bad_router_values_name_the_file_table_and_key(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = tmp_path / "g4f-lite.toml"
    path.write_text(f"[router]\n{toml}\n")
    message = refused(path)
    assert message.startswith(f"{path}: ")
    assert len(message.splitlines()) == 1
    assert re.search(expected, message), message


def test_every_problem_is_reported_at_once() -> None:
    message = refused({"router": {"strategy": 1, "retry": {"initial": math.inf, "x": 1}}})
    assert "'strategy'" in message and "'initial'" in message and "'x'" in message


def test_unknown_strategy_lists_the_choices_and_never_echoes_the_value() -> None:
    message = refused({"router": {"strategy": SECRET}})
    assert SECRET not in message and "sk-" not in message
    assert "[router] key 'strategy' must be one of fastest, least-failures, ordered, shuffle" in (
        message
    )


@pytest.mark.parametrize(
    "source",
    [
        {"router": {"strategy": SECRET}},
        {"router": {"max_providers": SECRET}},
        {"router": {"wait_for_cooldown": SECRET}},
        {"router": {"retry": {"initial": SECRET}}},
        {"router": {"timeouts": {"total": SECRET}}},
        {"router": {"retry": SECRET}},
        {"router": SECRET},
        {"providers": {"X": {"kind": SECRET}}},
        {"providers": {"X": {"kind": "openai", "base_url": SECRET}}},
        {"providers": {"X": {"kind": "openai", "base_url": "http://h", "timeout": SECRET}}},
        {"providers": {"Opchatgpts": {"enabled": SECRET}}},
        {"providers": {"Opchatgpts": {"proxy": SECRET}}},
        {"providers": {"Opchatgpts": {"api_key_env": SECRET}}},
        {"providers": {"Opchatgpts": SECRET}},
        {"providers": SECRET},
        {"server": SECRET},
    ],
)
@pytest.mark.usefixtures("first_party_plugins")
def test_config_errors_never_echo_values(source: dict[str, Any]) -> None:
    assert SECRET not in refused(source)


def test_an_accepted_table_builds_the_router_it_describes() -> None:
    loaded = g4f_lite.configure(
        {
            "router": {
                "strategy": "Least_Failures",
                "max_providers": 2,
                "wait_for_cooldown": False,
                "max_cooldown_wait": 0,
                "retry": {"max_attempts": 4, "initial": 0, "jitter": 1},
                "timeouts": {"total": 60, "idle": 7.5},
            }
        }
    )
    assert loaded.router_settings.strategy == "least-failures"
    router = Router.from_settings(loaded.router_settings)
    assert router.strategy.name == "least-failures"
    assert (router.max_providers, router.wait_for_cooldown, router.max_cooldown_wait) == (
        2,
        False,
        0,
    )
    assert router.retry == RetryPolicy(max_attempts=4, initial=0, jitter=1)
    assert router.timeouts == Timeouts(total=60, idle=7.5)
    assert Router.from_settings(loaded.router).retry == router.retry  # the table as written too


def test_the_settings_defaults_are_the_routers() -> None:
    defaults, router = RouterSettings(), Router()
    assert defaults.strategy == router.strategy.name
    assert defaults.max_providers == router.max_providers
    assert defaults.wait_for_cooldown == router.wait_for_cooldown
    assert defaults.max_cooldown_wait == router.max_cooldown_wait
    assert defaults.retry.policy() == router.retry
    assert defaults.timeouts.timeouts() == router.timeouts
    assert validate_router_table({}).router_options() == {}


def test_from_settings_validates_a_table_given_directly() -> None:
    with pytest.raises(ConfigurationError, match=r"^mine: \[router.timeouts\] key 'total'"):
        Router.from_settings({"timeouts": {"total": math.nan}}, source="mine")


def test_none_from_python_means_no_limit() -> None:
    g4f_lite.configure({"router": {"timeouts": {"connect": None, "total": None}}})
    timeouts = config.current_config().router_settings.timeouts.timeouts()
    assert (timeouts.connect, timeouts.total) == (None, None)


def test_the_config_layer_does_not_import_the_router() -> None:
    code = "import sys, g4f_lite.config; print('g4f_lite.router' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- limits given from Python -----------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0, -1, True, "5"])
def test_time_limits_must_be_finite_and_positive(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="must be positive"):
        check_positive("limit", value)
    with pytest.raises(ConfigurationError, match=r"Timeouts.total must be positive"):
        Timeouts(total=value)


@pytest.mark.parametrize("value", [math.inf, math.nan, -0.1, True, "1"])
def test_waits_must_be_finite_and_not_negative(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="must not be negative"):
        check_non_negative("wait", value)
    with pytest.raises(ConfigurationError, match=r"RetryPolicy.initial must not be negative"):
        RetryPolicy(initial=value)


@pytest.mark.parametrize("value", [0, True, 1.5])
def test_attempts_are_a_whole_number(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_attempts must be a whole number"):
        RetryPolicy(max_attempts=value)


def test_a_per_call_timeout_of_inf_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="timeout must be positive"):
        g4f_lite.ChatCompletion.create("", HELLO, provider="Opchatgpts", timeout=math.inf)


# -- the command line ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e400", "soon"])
@pytest.mark.parametrize("command", [["chat", "hi"], ["check"], ["serve"]])
def test_cli_refuses_a_bad_timeout_as_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: list[str], value: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli_main([*command, f"--timeout={value}"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "argument --timeout: must be" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["-1", "65536", "http"])
def test_cli_refuses_a_bad_port(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as caught:
        cli_main(["serve", f"--port={value}"])
    assert caught.value.code == 2
    assert "argument --port: must be" in capsys.readouterr().err


def test_cli_reports_a_bad_router_table_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[router]\nwait_for_cooldown = 'no'\n")
    assert cli_main(["--config", str(path), "providers"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"g4f-lite: error: {path}: [router] key 'wait_for_cooldown' must be true or false\n"
    )


# -- secrets in the configuration ----------------------------------------------------------

PROXY_PASSWORD = "proxy-pa55word"
URL_PASSWORD = "url-pa55word"


@pytest.mark.usefixtures("first_party_plugins")
def test_url_credentials_and_keys_are_masked_in_every_display() -> None:
    loaded = g4f_lite.configure(
        {
            "providers": {
                "Opchatgpts": {"proxy": f"http://user:{PROXY_PASSWORD}@proxy.local:3128"},
                "Mine": {
                    "kind": "openai",
                    "base_url": f"http://me:{URL_PASSWORD}@127.0.0.1:9/v1",
                    "api_key": SECRET,
                },
            },
            "server": {"api_key": SECRET},
            "router": {"strategy": "shuffle"},
        }
    )
    settings = config.provider_settings("Mine")
    options = {**config.provider_options("Mine"), **config.provider_options("Opchatgpts")}
    shown = [
        repr(loaded),
        str(loaded),
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        json.dumps(settings.model_dump(mode="json")),
        repr(options),
        str(options),
        repr(config.provider_settings("Opchatgpts")),
        config.provider_settings("Opchatgpts").model_dump_json(),
    ]
    for text in shown:
        for secret in (PROXY_PASSWORD, URL_PASSWORD, SECRET):
            assert secret not in text, text
    assert "http://***@proxy.local:3128" in repr(options)
    assert "http://***@127.0.0.1:9/v1" in settings.model_dump_json()
    # The values themselves stay whole, for the provider to use.
    assert options["proxy"] == f"http://user:{PROXY_PASSWORD}@proxy.local:3128"
    assert options["base_url"] == f"http://me:{URL_PASSWORD}@127.0.0.1:9/v1"
    assert f"{options['base_url']}/models".startswith(f"http://me:{URL_PASSWORD}@")
    assert options["api_key"].get_secret_value() == SECRET


async def test_a_masked_proxy_still_reaches_the_provider_whole(site: AIEngineEmulator) -> None:
    proxy = site.url.replace("http://", f"http://user:{PROXY_PASSWORD}@")
    g4f_lite.configure(
        {"providers": {"Opchatgpts": {"base_url": "http://site.invalid", "proxy": proxy}}}
    )
    assert PROXY_PASSWORD not in repr(config.provider_options("Opchatgpts"))
    await g4f_lite.ChatCompletion.create_async("", HELLO, provider="Opchatgpts")
    [request] = site.requests  # through the proxy, with its credentials
    assert request.headers["Host"] == "site.invalid"
    assert request.headers["Proxy-Authorization"].startswith("Basic ")


@pytest.mark.usefixtures("first_party_plugins")
def test_provider_listings_mask_url_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "g4f-lite.toml"
    path.write_text(
        f'[providers.Mine]\nkind = "openai"\nbase_url = "http://me:{URL_PASSWORD}@127.0.0.1:9/v1"\n'
    )
    # --all: nothing listens at 127.0.0.1:9, so the provider is listed only on request.
    for command in (
        ["providers", "--json", "--all"],
        ["providers", "--all"],
        ["providers", "--all", "--plugin", "config"],
    ):
        assert cli_main(["--config", str(path), *command]) == 0
        out = capsys.readouterr().out
        assert URL_PASSWORD not in out
        # The url column shows the health target, which carries no userinfo at all.
        assert "127.0.0.1:9/v1" in out
    [info] = g4f_lite.providers(plugin="config")
    assert info.url == "http://***@127.0.0.1:9/v1"


# -- files that are not TOML -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'[router]\nstrategy = "\xff\xfe"\n', "invalid TOML: not UTF-8 (at byte 21)"),
        (b"[router]\nx = " + b"[" * 5000 + b"]" * 5000, "invalid TOML: values nested too deeply"),
    ],
)
def test_unreadable_files_are_configuration_errors(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    path = tmp_path / "g4f-lite.toml"
    path.write_bytes(data)
    assert refused(path) == f"{path}: {expected}"


def test_odd_table_names_are_quoted_in_errors() -> None:
    message = refused({"providers": {"\x1b[31mred": 1}})
    assert "\x1b" not in message
    assert message == "<configuration>: [providers.'\\x1b[31mred'] must be a table, got int"


# -- the same rules for a Router built in Python -----------------------------------------


def test_router_strategy_from_python_never_echoes_the_value() -> None:
    with pytest.raises(ConfigurationError, match="unknown strategy") as caught:
        Router(strategy="sk-pasted-here-by-mistake")
    assert "sk-pasted" not in str(caught.value)
    from g4f_lite.strategies import STRATEGIES

    assert all(name in str(caught.value) for name in STRATEGIES)


@pytest.mark.parametrize("wait", [math.inf, math.nan, -1.0])
def test_router_max_cooldown_wait_must_be_finite(wait: float) -> None:
    with pytest.raises(ConfigurationError, match="max_cooldown_wait"):
        Router(max_cooldown_wait=wait)


@pytest.mark.usefixtures("first_party_plugins")
@pytest.mark.parametrize("kind", ["openai", "aiengine"])
@pytest.mark.parametrize("key", ["stream", "working", "supports_gpt_4"])
def test_kind_booleans_are_strict(kind: str, key: str) -> None:
    table: dict[str, Any] = {"kind": kind, "base_url": "http://127.0.0.1:9/v1", key: "no"}
    if kind == "aiengine":
        table = {"kind": kind, "url": "http://127.0.0.1:9", key: "no"}
    with pytest.raises(ConfigurationError, match=key) as caught:
        g4f_lite.configure({"providers": {"Mine": table}})
    assert "'no'" not in str(caught.value)
