"""The native Gemini API for g4f-lite (work in progress)."""
