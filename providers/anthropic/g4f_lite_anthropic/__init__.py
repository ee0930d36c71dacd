"""The native Anthropic API for g4f-lite (work in progress)."""
