"""The token counts ``serve`` reports when a provider reports none.

OpenAI always sends ``usage`` with a whole answer and clients read it without
a guard (``usage.model_dump()``), so ``serve`` never answers ``usage: null``.
When the provider did not count, the figures are estimated at four
characters a token (``ceil(characters / 4)``), OpenAI's rule of thumb for
English text, and the answer carries the header ``X-G4F-Usage: estimated``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..types import Message, TextPart, Usage

__all__ = ["CHARACTERS_PER_TOKEN", "USAGE_HEADER", "estimate_usage", "prompt_characters"]

#: The response header that marks estimated usage (value ``estimated``).
USAGE_HEADER = "X-G4F-Usage"
#: The estimate's rule: this many characters make a token.
CHARACTERS_PER_TOKEN = 4


def _tokens(characters: int) -> int:
    return -(-characters // CHARACTERS_PER_TOKEN)  # ceil without floats


def prompt_characters(messages: Iterable[Message]) -> int:
    """The prompt's length: the text of every turn and the arguments of its tool calls."""
    total = 0
    for message in messages:
        content = message.content
        if isinstance(content, str):
            total += len(content)
        elif content is not None:
            total += sum(len(part.text) for part in content if isinstance(part, TextPart))
        for call in message.tool_calls or ():
            total += len(call.function.name) + len(call.function.arguments)
    return total


def estimate_usage(messages: Iterable[Message], answer_characters: int) -> Usage:
    """Estimated usage: ``ceil(characters / 4)`` of the prompt and of the answer.

    ``answer_characters`` counts the answer's text and its tool calls' names
    and arguments.
    """
    return Usage.of(_tokens(prompt_characters(messages)), _tokens(answer_characters))
