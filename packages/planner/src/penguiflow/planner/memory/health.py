"""`MemoryHealth`: the states of a session's background summarisation.

Design notes. Only ``rolling_summary`` memory ever leaves ``HEALTHY``::

    HEALTHY --summary fails--> RETRY --retries left--> RETRY
       ^                          |                      |
       |                    summary lands          retries spent
       +--------------------------+                      v
       ^                                             DEGRADED  (behaves like truncation)
       |                                                 |
       +--probe succeeds-- RECOVERING <--every N turns---+
                               |
                               +--probe fails--> DEGRADED
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MemoryHealth"]


class MemoryHealth(StrEnum):
    """Health of a session's memory; see the module docstring for the transitions."""

    HEALTHY = "healthy"
    """Summaries land (or none is needed)."""
    RETRY = "retry"
    """The last summary attempt failed; retrying with backoff."""
    DEGRADED = "degraded"
    """The summariser keeps failing: turns leaving the full zone are dropped, as with truncation."""
    RECOVERING = "recovering"
    """A probe summary is in flight while degraded."""
