"""The ``penguiflow-admin`` console script: read a trace's stored history back from any StateStore.

Commands::

    penguiflow-admin history TRACE_ID --state-store URL|module:factory [--tenant T] [--json]
    penguiflow-admin replay  TRACE_ID --state-store URL|module:factory [--tenant T] [--json]

``history`` prints the stored events of one trace, in save order, as a table
(or one JSON object per line with ``--json``). ``replay`` walks the same
events in time order and tells what happened: each attempt of each node,
retries, failures, cancellation, and the trace's outcome.

The store is a URL understood by `penguiflow.state.open_store` (``sqlite:///path.db``,
``postgresql://...``, ``redis://...``) or ``module:attr`` loaded through the
factory contract (`penguiflow.cli.load_object`): a `penguiflow.state.StateStore`,
or a callable (sync or async, no arguments) returning one. When
``--state-store`` is omitted, ``PENGUIFLOW_STATE_STORE`` is used.
``python -m penguiflow.admin`` runs the same program.

Errors are one line on stderr, never a traceback. Exit status: 0 success;
1 the command was well-formed but failed (store unreachable, driver missing,
factory not importable, no events for the trace); 2 the command line is wrong
(missing argument, no store given, unknown URL scheme, malformed ``module:factory``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO, cast

from penguiflow.cli._support import CliError, OneLineParser, fail, parse_options, redact
from penguiflow.cli.factory import FactoryError, is_factory_spec, load_object
from penguiflow.state import SUPPORTED_SCHEMES, StateStore, StateStoreError, StoredEvent, open_store

__all__ = ["ENV_STATE_STORE", "AdminError", "build_parser", "main", "render_history", "replay"]

ENV_STATE_STORE = "PENGUIFLOW_STATE_STORE"
"""Environment variable read when ``--state-store`` is not given."""

_PROG = "penguiflow-admin"
_DETAIL_WIDTH = 120
# Event kinds that end one attempt of a node.
_ATTEMPT_ENDS = ("node_success", "node_error", "node_timeout", "node_cancelled")


class AdminError(CliError):
    """A failure reported as one line; ``exit_code`` is 2 for bad usage, 1 for a runtime failure."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``penguiflow-admin``."""
    parser = OneLineParser(
        prog=_PROG,
        description="Inspect the durable history PenguiFlow saved to a StateStore.",
        epilog=f"--state-store defaults to ${ENV_STATE_STORE}. Exit status: 0 ok, "
        "1 runtime failure (unreachable store, unknown trace, ...), 2 bad usage.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    helps = {
        "history": "print the stored events of a trace (a table, or JSON lines)",
        "replay": "tell what happened in a trace, in time order (text, or JSON lines)",
    }
    for name, text in helps.items():
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("trace_id", metavar="TRACE_ID", help="the trace to read")
        sub.add_argument(
            "--state-store",
            metavar="URL|module:factory",
            default=None,
            help="sqlite:///path.db, postgresql://..., redis://..., or a module:factory "
            f"callable returning a StateStore (default: ${ENV_STATE_STORE})",
        )
        sub.add_argument(
            "-o",
            "--store-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="option for the store's open(), e.g. schema=penguiflow (PostgreSQL) or "
            "prefix=penguiflow (Redis); repeatable; numbers and true/false are converted",
        )
        sub.add_argument("--tenant", default=None, help="only this tenant's events")
        sub.add_argument("--json", action="store_true", help="one JSON object per line")
        sub.add_argument(
            "--timeout",
            type=float,
            default=30.0,
            metavar="SECONDS",
            help="give up opening and reading the store after this long (default: 30)",
        )
    return parser


# -- opening the store ---------------------------------------------------------------


async def _open(spec: str, options: dict[str, Any]) -> StateStore:
    if "://" not in spec:
        if not is_factory_spec(spec):
            raise AdminError(
                "--state-store must be a URL (sqlite:///path.db, postgresql://..., redis://...) "
                f"or module:factory; got {spec!r}",
                exit_code=2,
            )
        if options:
            raise AdminError("--store-option applies to URLs, not to module:factory", exit_code=2)
        return await _from_factory(spec)
    scheme = spec.partition("://")[0]
    if scheme not in SUPPORTED_SCHEMES:
        known = ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        raise AdminError(
            f"unknown state store scheme {scheme + '://'!r}; supported: {known} "
            "(or module:factory)",
            exit_code=2,
        )
    if scheme != "memory":
        # Reading must not leave an empty file, schema or key layout behind; memory://
        # has no existing store to open (and refuses create=False).
        options.setdefault("create", False)
    try:
        store: StateStore = await open_store(spec, **options)
    except TypeError as exc:  # an option the backend does not take
        raise AdminError(f"bad --store-option for {scheme}://: {exc}", exit_code=2) from None
    except ValueError as exc:  # malformed URL or option value
        raise AdminError(str(exc), exit_code=2) from None
    return store


async def _from_factory(spec: str) -> StateStore:
    try:
        store = await load_object(
            spec,
            expected="a StateStore (save_event, load_history, ...)",
            accepts=lambda found: isinstance(found, StateStore),
        )
    except FactoryError as exc:
        raise AdminError(str(exc)) from None
    return cast(StateStore, store)


async def _load(
    spec: str, options: dict[str, Any], trace_id: str, tenant: str | None
) -> list[StoredEvent]:
    store = await _open(spec, options)
    try:
        return await store.load_history(trace_id, tenant=tenant)
    finally:
        await store.close()


# -- history -------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _extra(event: StoredEvent) -> dict[str, Any]:
    extra = event.payload.get("extra")
    return extra if isinstance(extra, dict) else {}


def _attempt(event: StoredEvent) -> int | None:
    """The 1-based attempt number of a node event (the payload stores it 0-based)."""
    value = event.payload.get("attempt")
    if not isinstance(value, int) or isinstance(value, bool) or not event.kind.startswith("node_"):
        return None
    return value + 1


def _latency(event: StoredEvent) -> float | None:
    value = event.payload.get("latency_ms")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _failure_text(extra: dict[str, Any]) -> str:
    error = extra.get("error")
    if isinstance(error, dict):  # node_failed carries the FlowError payload
        return f"[{error.get('code', extra.get('code', '?'))}] {error.get('message', '')}".strip()
    return str(error) if error is not None else ""


def _detail(event: StoredEvent) -> str:
    """A short human description of the event's specifics (errors, delays, counts)."""
    extra = _extra(event)
    kind = event.kind
    if kind in ("node_error", "node_timeout"):
        return str(extra.get("error", ""))
    if kind == "node_retry":
        return f"retry in {extra.get('delay_s', '?')}s after: {extra.get('error', '')}"
    if kind == "node_failed":
        return _failure_text(extra)
    if kind == "trace_cancel_start":
        return f"{extra.get('pending', '?')} message(s) pending"
    if kind == "trace_cancel_finish":
        return f"{extra.get('dropped', '?')} queued message(s) dropped"
    if kind == "budget_exhausted":
        return str(extra.get("code", ""))
    if kind == "deadline_skip":
        return f"deadline passed {float(extra.get('late_s', 0.0)):.3f}s ago"
    if kind == "state_store_error":
        return f"could not save a {extra.get('lost_event', '?')} event: {extra.get('error', '')}"
    if kind.startswith("node_") or not event.payload:
        return ""
    if event.payload.get("event") == kind:  # another runtime event: its specifics are `extra`
        shown = extra
    else:  # saved by an application: its payload, without what the columns already show
        shown = {k: v for k, v in event.payload.items() if k not in ("ts", "trace_id", "node_name")}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True, default=str) if shown else ""


def _clip(text: str, width: int = _DETAIL_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_history(events: Sequence[StoredEvent], out: TextIO) -> None:
    """Write ``events`` to ``out`` as an aligned table, in save order.

    Columns: time (ISO 8601, UTC), kind, node, attempt (1-based), latency in
    milliseconds, tenant, and a detail column (error text, retry delay, ...).
    """
    headers = ("TIME (UTC)", "KIND", "NODE", "ATTEMPT", "LATENCY_MS", "TENANT", "DETAIL")
    rows = []
    for event in events:
        attempt, latency = _attempt(event), _latency(event)
        rows.append(
            (
                _iso(event.ts),
                event.kind,
                event.node_name or "-",
                "-" if attempt is None else str(attempt),
                "-" if latency is None else f"{latency:.2f}",
                event.tenant or "-",
                _clip(_detail(event)),
            )
        )
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    for row in (headers, *rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(events)} event(s)\n")


# -- replay --------------------------------------------------------------------------


@dataclass(slots=True)
class _NodeStory:
    """What one node did during the trace."""

    attempts: int = 0
    successes: int = 0
    errors: int = 0
    timeouts: int = 0
    retries: int = 0
    failures: list[str] = field(default_factory=list)
    cancelled: int = 0
    latency_ms: float = 0.0

    @property
    def open(self) -> int:
        """Attempts started whose end is not in the history."""
        return max(0, self.attempts - self.successes - self.errors - self.timeouts - self.cancelled)

    @property
    def status(self) -> str:
        if self.failures:
            return "failed"
        if self.cancelled:
            return "cancelled"
        if self.open:
            return "still running when the history ends"
        if self.successes:
            return "succeeded"
        return "no outcome recorded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "successes": self.successes,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "retries": self.retries,
            "failures": list(self.failures),
            "cancelled": self.cancelled,
            "latency_ms": round(self.latency_ms, 3),
            "status": self.status,
        }


def _narrate(event: StoredEvent, story: _NodeStory | None) -> str:
    """One sentence for ``event``, updating ``story`` (the event's node) as it goes."""
    kind, extra = event.kind, _extra(event)
    attempt, latency = _attempt(event), _latency(event)
    took = f" after {latency:.2f} ms" if latency is not None else ""
    if story is not None and latency is not None:
        story.latency_ms += latency
    if kind == "node_start" and story is not None:
        story.attempts += 1
        return f"attempt {attempt} started"
    if kind == "node_success" and story is not None:
        story.successes += 1
        return f"attempt {attempt} succeeded" + (f" in {latency:.2f} ms" if took else "")
    if kind == "node_error" and story is not None:
        story.errors += 1
        return f"attempt {attempt} raised{took}: {extra.get('error', '')}"
    if kind == "node_timeout" and story is not None:
        story.timeouts += 1
        return f"attempt {attempt} timed out{took}: {extra.get('error', '')}"
    if kind == "node_retry" and story is not None:
        story.retries += 1
        return f"will retry (attempt {attempt}) in {extra.get('delay_s', '?')}s"
    if kind == "node_failed" and story is not None:
        text = _failure_text(extra)
        story.failures.append(text)
        return f"gave up after {attempt} attempt(s): {text}"
    if kind == "node_cancelled" and story is not None:
        story.cancelled += 1
        return "interrupted: the trace was cancelled"
    if kind == "trace_cancel_start":
        return f"trace cancellation requested ({extra.get('pending', '?')} message(s) pending)"
    if kind == "trace_cancel_finish":
        return f"trace cancelled ({extra.get('dropped', '?')} queued message(s) dropped)"
    if kind == "budget_exhausted":
        return f"budget exhausted ({extra.get('code', '?')}); the loop ends with a final answer"
    if kind == "deadline_skip":
        return "message skipped: the trace's deadline had passed"
    detail = _detail(event)
    return f"{kind}: {detail}" if detail else kind


def _outcome(events: Sequence[StoredEvent], nodes: dict[str, _NodeStory]) -> tuple[str, str]:
    """Return ``(outcome, explanation)`` for the trace, from the most to the least decisive."""
    kinds = {event.kind for event in events}
    if "trace_cancel_start" in kinds or "trace_cancel_finish" in kinds:
        return "cancelled", "the trace was cancelled"
    failed = {name: story.failures for name, story in nodes.items() if story.failures}
    if failed:
        parts = [f"{name} ({'; '.join(texts)})" for name, texts in failed.items()]
        return "failed", "gave up: " + ", ".join(parts)
    if "deadline_skip" in kinds:
        return "deadline_expired", "the deadline passed before every node ran"
    if "budget_exhausted" in kinds:
        return "budget_exhausted", "a controller loop ran out of budget and answered early"
    running = [name for name, story in nodes.items() if story.open]
    if running:
        return "incomplete", f"the history ends while {', '.join(running)} was running"
    if not any(story.attempts or story.successes for story in nodes.values()):
        return "unknown", "no node lifecycle events were recorded"
    retries = sum(story.retries for story in nodes.values())
    note = f" ({retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
    return "completed", f"{len(nodes)} node(s) ran and all succeeded{note}"


def replay(events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Replay ``events`` in time order and return the story as a JSON-safe dict.

    Events are sorted by ``ts`` (ties keep save order). The result has
    ``steps`` (one sentence per event, with its offset from the first event),
    ``nodes`` (per node: attempts, retries, failures, status, summed latency),
    and ``outcome``: ``completed``, ``failed``, ``cancelled``,
    ``deadline_expired``, ``budget_exhausted``, ``incomplete`` or ``unknown``,
    with a one-line ``explanation``.
    """
    ordered = sorted(events, key=lambda event: event.ts)  # sorted() is stable
    start = ordered[0].ts if ordered else 0.0
    nodes: dict[str, _NodeStory] = {}
    steps = []
    for event in ordered:
        story = None
        if event.node_name is not None and event.kind.startswith("node_"):
            story = nodes.setdefault(event.node_name, _NodeStory())
        steps.append(
            {
                "ts": event.ts,
                "at": _iso(event.ts),
                "offset_s": round(event.ts - start, 6),
                "kind": event.kind,
                "node": event.node_name,
                "text": _narrate(event, story),
            }
        )
    outcome, explanation = _outcome(ordered, nodes)
    return {
        "trace_id": ordered[0].trace_id if ordered else None,
        "tenants": sorted({e.tenant for e in ordered if e.tenant is not None}),
        "events": len(ordered),
        "started_at": _iso(start) if ordered else None,
        "ended_at": _iso(ordered[-1].ts) if ordered else None,
        "duration_s": round(ordered[-1].ts - start, 6) if ordered else 0.0,
        "steps": steps,
        "nodes": {name: story.to_dict() for name, story in nodes.items()},
        "outcome": outcome,
        "explanation": explanation,
    }


def _render_replay(story: dict[str, Any], out: TextIO) -> None:
    tenants = f" (tenant {', '.join(story['tenants'])})" if story["tenants"] else ""
    out.write(
        f"Trace {story['trace_id']}{tenants}: {story['events']} event(s) from "
        f"{story['started_at']} over {story['duration_s']:.6f}s\n\n"
    )
    width = max(len(step["node"] or "(flow)") for step in story["steps"])
    for step in story["steps"]:
        node = step["node"] or "(flow)"
        offset = f"+{step['offset_s']:.6f}s".rjust(13)
        out.write(f"  {offset}  {node.ljust(width)}  {_clip(step['text'])}\n")
    if story["nodes"]:
        out.write("\nNodes:\n")
        for name, node in story["nodes"].items():
            retries = f", {node['retries']} retr{'y' if node['retries'] == 1 else 'ies'}"
            out.write(
                f"  {name.ljust(width)}  {node['attempts']} attempt(s)"
                f"{retries if node['retries'] else ''}, {node['status']}, "
                f"{node['latency_ms']:.2f} ms in attempts\n"
            )
    out.write(f"\nOutcome: {story['outcome']} - {story['explanation']}\n")


# -- entry point ---------------------------------------------------------------------


async def _command(args: argparse.Namespace, spec: str, out: TextIO) -> None:
    if not args.timeout > 0:
        raise AdminError(f"--timeout must be > 0; got {args.timeout}", exit_code=2)
    where = redact(spec)
    options = parse_options(args.store_option, "--store-option")
    try:
        async with asyncio.timeout(args.timeout):
            events = await _load(spec, options, args.trace_id, args.tenant)
    except TimeoutError:
        raise AdminError(f"{where} did not answer within {args.timeout:g}s") from None
    if not events:
        scope = f" for tenant {args.tenant!r}" if args.tenant is not None else ""
        hint = " (memory:// stores live inside one process)" if spec.startswith("memory:") else ""
        raise AdminError(f"no events for trace {args.trace_id!r}{scope} in {where}{hint}")
    if args.command == "history":
        if args.json:
            for event in events:
                out.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        else:
            render_history(events, out)
        return
    story = replay(events)
    if not args.json:
        _render_replay(story, out)
        return
    summary = {k: v for k, v in story.items() if k != "steps"}
    for step in story["steps"]:
        out.write(json.dumps({"type": "step", **step}, ensure_ascii=False) + "\n")
    out.write(json.dumps({"type": "summary", **summary}, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``penguiflow-admin`` on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
        spec = args.state_store or os.environ.get(ENV_STATE_STORE, "")
        if not spec.strip():
            raise AdminError(
                f"no state store given: pass --state-store URL|module:factory or set "
                f"{ENV_STATE_STORE}",
                exit_code=2,
            )
        asyncio.run(_command(args, spec.strip(), sys.stdout))
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except StateStoreError as exc:
        return _fail(str(exc), 1)
    except ImportError as exc:  # a missing driver names the extra to install
        return _fail(str(exc), 1)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # a third-party store's own error: still one line
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    return 0


def _fail(message: str, code: int) -> int:
    return fail(_PROG, message, code)


if __name__ == "__main__":
    raise SystemExit(main())
