"""`MemoryKey`: the tenant + user + session that scopes one conversation's memory."""

from __future__ import annotations

from dataclasses import dataclass

from penguiflow.planner.memory.errors import MemoryKeyError

__all__ = ["MemoryKey"]

_SEPARATOR = ":"


def _escape(part: str) -> str:
    # Only the separator and the escape character are encoded, so ordinary ids
    # give a readable composite ("acme:user123:sess-abc") and any id round-trips.
    return part.replace("%", "%25").replace(_SEPARATOR, "%3A")


def _unescape(part: str) -> str:
    return part.replace("%3A", _SEPARATOR).replace("%25", "%")


@dataclass(frozen=True, slots=True)
class MemoryKey:
    """Identifies one conversation: memory is never shared between two different keys.

    Attributes:
        tenant_id: The tenant (organisation, workspace).
        user_id: The user within the tenant.
        session_id: The conversation within the user.

    Raises:
        MemoryKeyError: A part is not a non-blank string.

    Example:
        >>> key = MemoryKey(tenant_id="acme", user_id="user123", session_id="sess-abc")
        >>> key.composite()
        'acme:user123:sess-abc'
        >>> MemoryKey.parse(key.composite()) == key
        True
    """

    tenant_id: str
    user_id: str
    session_id: str

    def __post_init__(self) -> None:
        for name in ("tenant_id", "user_id", "session_id"):
            value: object = getattr(self, name)
            if not isinstance(value, str):
                raise MemoryKeyError(
                    f"MemoryKey.{name} must be a string; got {type(value).__name__}"
                )
            if not value.strip():
                raise MemoryKeyError(f"MemoryKey.{name} must not be empty or blank")

    def composite(self) -> str:
        """The key as one string, ``"tenant:user:session"`` (``:`` and ``%`` in parts escaped)."""
        return _SEPARATOR.join(
            _escape(part) for part in (self.tenant_id, self.user_id, self.session_id)
        )

    @classmethod
    def parse(cls, composite: str) -> MemoryKey:
        """Inverse of `composite`.

        Raises:
            MemoryKeyError: ``composite`` does not have exactly three non-empty parts.
        """
        if not isinstance(composite, str):
            raise MemoryKeyError(f"a composite key is a string; got {type(composite).__name__}")
        parts = composite.split(_SEPARATOR)
        if len(parts) != 3:
            raise MemoryKeyError(
                f"a composite memory key is 'tenant:user:session'; got {composite!r}"
            )
        tenant, user, session = (_unescape(part) for part in parts)
        return cls(tenant_id=tenant, user_id=user, session_id=session)

    def __str__(self) -> str:
        return self.composite()
