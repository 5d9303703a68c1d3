"""Helpers shared by the state-store and message-bus drivers: URLs, Redis connections,
cancellation-safe driver calls and the conformance-suite machinery. Private."""

__all__: list[str] = []
