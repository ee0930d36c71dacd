"""The OpenAI-compatible services this plugin registers, as one table of data.

Each :class:`Preset` becomes a provider class through
:func:`~g4f_lite_openai.make_provider`, exactly as a ``kind = "openai"``
table of the configuration file does. Hosted services need a key, read at
call time from their environment variable (``GROQ_API_KEY``...), so a
service whose variable is unset is never chosen by the router; local
servers need none. Any option can be changed in a ``[providers.NAME]``
table (``base_url``, ``api_key``, ``api_key_env``, ``models``, ``enabled``),
for example to point a preset at a compatible proxy.

Flags record what a service is known to refuse: a sampling option it
rejects with an error (``sampling_options`` lists those it takes; the router
drops the others), ``stream_options`` (``stream_usage=False``), tools,
images or JSON mode. Model lists are a few well-known ids, not a catalogue:
ask the server (``list_models``) for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from g4f_lite.provider import SAMPLING_OPTIONS

__all__ = ["HOSTED", "LOCAL", "PRESETS", "Preset"]

# Sampling options most services take; `seed` and `user` are OpenAI's own
# and are rejected ("extra inputs are not permitted") by stricter servers.
_COMMON_SAMPLING = frozenset({"temperature", "top_p", "max_tokens", "stop"})


@dataclass(frozen=True)
class Preset:
    """One OpenAI-compatible service: where it is, its key variable, models and quirks."""

    name: str
    base_url: str
    description: str
    #: The environment variable holding the key; ``None``: the service takes none.
    api_key_env: str | None = None
    #: Whether a key is required. A local server with an ``api_key_env``
    #: sends the key when the variable is set, and works without it.
    needs_auth: bool = True
    models: tuple[str, ...] = ()
    supports_tools: bool = True
    supports_vision: bool = True
    supports_json_mode: bool = True
    #: The sampling options the service takes (``None``: all of them).
    sampling_options: frozenset[str] | None = None
    #: Whether a stream asks for usage with ``stream_options``.
    stream_usage: bool = True
    supports_gpt_35_turbo: bool = False
    supports_gpt_4: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.sampling_options or ()) - SAMPLING_OPTIONS
        if unknown:
            raise ValueError(f"preset {self.name}: unknown sampling options {sorted(unknown)}")
        if self.needs_auth and not self.api_key_env:
            raise ValueError(f"preset {self.name}: needs a key but names no variable for it")

    @property
    def local(self) -> bool:
        """Whether this is a server on this machine (no key required)."""
        return not self.needs_auth

    def options(self) -> dict[str, Any]:
        """The preset as the options of a ``kind = "openai"`` table."""
        return {
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "needs_auth": self.needs_auth,
            "models": list(self.models),
            "supports_tools": self.supports_tools,
            "supports_vision": self.supports_vision,
            "supports_json_mode": self.supports_json_mode,
            "sampling_options": None
            if self.sampling_options is None
            else sorted(self.sampling_options),
            "stream_usage": self.stream_usage,
            "supports_gpt_35_turbo": self.supports_gpt_35_turbo,
            "supports_gpt_4": self.supports_gpt_4,
            "description": self.description,
        }


#: Servers on this machine, on their default ports. vLLM and llama.cpp send
#: a key when their variable is set (servers started with ``--api-key``).
LOCAL: tuple[Preset, ...] = (
    Preset(
        "Ollama",
        "http://127.0.0.1:11434/v1",
        "Ollama (ollama serve) on this machine.",
        needs_auth=False,
    ),
    Preset(
        "VLLM",
        "http://127.0.0.1:8000/v1",
        "vLLM (vllm serve) on this machine; sends $VLLM_API_KEY when set.",
        api_key_env="VLLM_API_KEY",
        needs_auth=False,
    ),
    Preset(
        "LlamaCpp",
        "http://127.0.0.1:8080/v1",
        "llama.cpp (llama-server) on this machine; sends $LLAMA_API_KEY when set.",
        api_key_env="LLAMA_API_KEY",
        needs_auth=False,
    ),
    Preset(
        "LMStudio",
        "http://127.0.0.1:1234/v1",
        "LM Studio's local server on this machine.",
        needs_auth=False,
    ),
)

# Model ids are chosen so that none starts with another preset's name and a
# slash ("openai/...", "deepseek/..."): such an id reads as "that provider's
# model" when a model is addressed as "Provider/model-id".
#: Hosted services, each needing its key.
HOSTED: tuple[Preset, ...] = (
    Preset(
        "OpenAI",
        "https://api.openai.com/v1",
        "OpenAI's API; key in $OPENAI_API_KEY.",
        api_key_env="OPENAI_API_KEY",
        models=("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini"),
        supports_gpt_35_turbo=True,
        supports_gpt_4=True,
    ),
    Preset(
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        "OpenRouter, one API for many vendors' models; key in $OPENROUTER_API_KEY.",
        api_key_env="OPENROUTER_API_KEY",
        models=(
            "meta-llama/llama-3.3-70b-instruct",
            "meta-llama/llama-3.1-8b-instruct",
            "google/gemini-2.0-flash-001",
            "mistralai/mistral-small-3.1-24b-instruct",
            "qwen/qwen-2.5-72b-instruct",
        ),
    ),
    Preset(
        "Groq",
        "https://api.groq.com/openai/v1",
        "Groq's LPU inference; key in $GROQ_API_KEY.",
        api_key_env="GROQ_API_KEY",
        models=(
            "llama-3.1-8b-instant",
            "llama-3.3-70b-versatile",
            "meta-llama/llama-4-scout-17b-16e-instruct",
            "qwen/qwen3-32b",
        ),
    ),
    Preset(
        "Together",
        "https://api.together.xyz/v1",
        "Together AI; key in $TOGETHER_API_KEY.",
        api_key_env="TOGETHER_API_KEY",
        models=(
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
            "Qwen/Qwen2.5-72B-Instruct-Turbo",
            "deepseek-ai/DeepSeek-V3",
        ),
    ),
    Preset(
        "DeepSeek",
        "https://api.deepseek.com",
        "DeepSeek's API (text only); key in $DEEPSEEK_API_KEY.",
        api_key_env="DEEPSEEK_API_KEY",
        models=("deepseek-chat", "deepseek-reasoner"),
        supports_vision=False,
    ),
    Preset(
        "Mistral",
        "https://api.mistral.ai/v1",
        "Mistral AI's API; key in $MISTRAL_API_KEY.",
        api_key_env="MISTRAL_API_KEY",
        models=("mistral-small-latest", "mistral-large-latest", "codestral-latest"),
        # Rejects fields it does not know (422), stream_options and seed
        # (its own is random_seed) among them.
        sampling_options=_COMMON_SAMPLING,
        stream_usage=False,
    ),
    Preset(
        "XAI",
        "https://api.x.ai/v1",
        "xAI's Grok models; key in $XAI_API_KEY.",
        api_key_env="XAI_API_KEY",
        models=("grok-3-mini", "grok-3", "grok-4"),
    ),
    Preset(
        "Cerebras",
        "https://api.cerebras.ai/v1",
        "Cerebras inference (text only); key in $CEREBRAS_API_KEY.",
        api_key_env="CEREBRAS_API_KEY",
        models=("llama3.1-8b", "llama-3.3-70b", "qwen-3-32b", "gpt-oss-120b"),
        supports_vision=False,
        # frequency_penalty and presence_penalty are a 400 there.
        sampling_options=SAMPLING_OPTIONS - {"frequency_penalty", "presence_penalty"},
    ),
    Preset(
        "Fireworks",
        "https://api.fireworks.ai/inference/v1",
        "Fireworks AI; key in $FIREWORKS_API_KEY.",
        api_key_env="FIREWORKS_API_KEY",
        models=(
            "accounts/fireworks/models/llama-v3p1-8b-instruct",
            "accounts/fireworks/models/llama-v3p3-70b-instruct",
            "accounts/fireworks/models/deepseek-v3",
            "accounts/fireworks/models/qwen2p5-72b-instruct",
        ),
    ),
    Preset(
        "DeepInfra",
        "https://api.deepinfra.com/v1/openai",
        "DeepInfra; key in $DEEPINFRA_API_KEY.",
        api_key_env="DEEPINFRA_API_KEY",
        models=(
            "meta-llama/Meta-Llama-3.1-8B-Instruct",
            "meta-llama/Llama-3.3-70B-Instruct",
            "deepseek-ai/DeepSeek-V3",
            "Qwen/Qwen2.5-72B-Instruct",
        ),
    ),
    Preset(
        "Perplexity",
        "https://api.perplexity.ai",
        "Perplexity's Sonar models, answering from a web search; key in $PERPLEXITY_API_KEY.",
        api_key_env="PERPLEXITY_API_KEY",
        models=("sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro"),
        # No function calling, no images, and JSON only through json_schema.
        supports_tools=False,
        supports_vision=False,
        supports_json_mode=False,
        sampling_options=frozenset(
            {"temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty"}
        ),
        stream_usage=False,
    ),
    Preset(
        "GitHubModels",
        "https://models.github.ai/inference",
        "GitHub Models; a GitHub token (models: read) in $GITHUB_TOKEN.",
        api_key_env="GITHUB_TOKEN",
        # Its ids are "publisher/model"; OpenAI's ("openai/gpt-4.1-mini") are
        # left out of the list as they read as the OpenAI preset's: address
        # them as "GitHubModels/openai/gpt-4.1-mini".
        models=(
            "meta/Llama-3.3-70B-Instruct",
            "meta/Llama-4-Scout-17B-16E-Instruct",
            "microsoft/Phi-4-mini-instruct",
            "mistral-ai/mistral-small-2503",
        ),
    ),
    Preset(
        "HuggingFace",
        "https://router.huggingface.co/v1",
        "Hugging Face's inference providers router; token in $HF_TOKEN.",
        api_key_env="HF_TOKEN",
        models=(
            "meta-llama/Llama-3.1-8B-Instruct",
            "Qwen/Qwen2.5-72B-Instruct",
            "deepseek-ai/DeepSeek-V3-0324",
        ),
    ),
    Preset(
        "Nvidia",
        "https://integrate.api.nvidia.com/v1",
        "NVIDIA's API catalog (build.nvidia.com); key in $NVIDIA_API_KEY.",
        api_key_env="NVIDIA_API_KEY",
        models=(
            "meta/llama-3.1-8b-instruct",
            "meta/llama-3.3-70b-instruct",
            "deepseek-ai/deepseek-r1",
            "qwen/qwen2.5-coder-32b-instruct",
        ),
    ),
)

#: Every preset by name, local servers first (registration order).
PRESETS: dict[str, Preset] = {preset.name: preset for preset in (*LOCAL, *HOSTED)}
