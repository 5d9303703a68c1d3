"""URL helpers shared by `open_store`, `open_bus` and the network backends.

`backend_class` is the URL-scheme dispatch of `open_store` and `open_bus`,
`check_options` refuses an option the backend does not take (naming the ones
it does), and `printable_where` gives the ``host:port`` of a server URL for
messages.

Each backend lives in its own module that imports its driver at import time;
`backend_class` imports that module only when a URL names it, and turns a
missing driver into an `ImportError` that says which extra of
``penguiflow-core`` to install.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = ["Backend", "backend_class", "check_options", "printable_where"]


class Backend(NamedTuple):
    """Where a URL scheme's backend lives.

    Attributes:
        module: Dotted name of the backend module (imported lazily).
        class_name: The backend class in that module; it has an async ``open(url, **options)``.
        extra: The ``penguiflow-core`` extra that installs its driver, or ``None`` if built in.
        example: An example URL, shown in error messages.
    """

    module: str
    class_name: str
    extra: str | None
    example: str


def _supported(backends: Mapping[str, Backend]) -> str:
    lines = []
    for scheme, backend in backends.items():
        extra = (
            "built in"
            if backend.extra is None
            else f'pip install "penguiflow-core[{backend.extra}]"'
        )
        lines.append(f"  {scheme}:// (e.g. {backend.example}; {extra})")
    return "\n".join(lines)


def backend_class(url: object, backends: Mapping[str, Backend], *, what: str, function: str) -> Any:
    """The backend class ``url``'s scheme names, its module imported now.

    Args:
        url: The URL to dispatch on.
        backends: Scheme -> backend.
        what: What the URLs name, for messages (for example ``"state store"``).
        function: The public function name, for messages (for example ``"open_store"``).

    Raises:
        TypeError: ``url`` is not a string.
        ValueError: The URL is malformed or its scheme is unknown (the message
            lists the supported ones).
        ImportError: The backend's driver is not installed (the message says
            which extra to install).
    """
    if not isinstance(url, str):
        raise TypeError(f"{function}() takes a URL string, got {type(url).__name__}")
    scheme, separator, _ = url.partition("://")
    if not separator or not scheme:
        raise ValueError(f"not a {what} URL: {url!r}; supported:\n{_supported(backends)}")
    backend = backends.get(scheme)
    if backend is None:
        raise ValueError(
            f"unknown {what} scheme {scheme + '://'!r} in {url!r}; "
            f"supported:\n{_supported(backends)}"
        )
    try:
        module = importlib.import_module(backend.module)
    except ImportError as exc:
        if "penguiflow-core[" in str(exc):  # the backend already said what to install
            raise
        raise ImportError(
            f"the {scheme}:// {what} cannot be loaded ({exc}); "
            f'install its driver: pip install "penguiflow-core[{backend.extra}]"'
        ) from exc
    return getattr(module, backend.class_name)


def check_options(
    opener: Callable[..., Any], options: Mapping[str, object], *, url: str, function: str
) -> None:
    """Refuse the keyword options ``opener`` (a backend's ``open``) does not take.

    Python's own error would name the bad keyword only; this one also lists
    the valid options (and the closest one, for a typo), before any I/O.

    Args:
        opener: The backend's ``open``; its keyword-only parameters are its options.
        options: The options given.
        url: The URL being opened, for messages (only its scheme is shown).
        function: The public function name, for messages (for example ``"open_store"``).

    Raises:
        TypeError: An option ``opener`` does not take.
    """
    parameters = inspect.signature(opener).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return  # it takes anything; it checks for itself
    valid = sorted(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
    unknown = sorted(set(options) - set(valid))
    if not unknown:
        return
    import difflib  # only for this error message; not worth 0.6 ms of `import penguiflow`

    scheme = url.partition("://")[0]
    owner = getattr(opener, "__qualname__", function)
    hints = [
        f"{match[0]!r} for {name!r}"
        for name in unknown
        if (match := difflib.get_close_matches(name, valid, n=1))
    ]
    raise TypeError(
        f"{function}() got {'an unknown option' if len(unknown) == 1 else 'unknown options'} "
        f"{', '.join(map(repr, unknown))} for {scheme}:// ({owner}); "
        f"valid options: {', '.join(valid) if valid else 'none'}"
        + (f"; did you mean {', '.join(hints)}?" if hints else "")
    )


def printable_where(
    url: object,
    *,
    schemes: tuple[str, ...],
    default_port: int,
    name: str,
    expected: str,
    not_a_string: str | None = None,
) -> str:
    """Return ``host:port`` of a server URL for messages (never the credentials).

    Args:
        url: The server URL.
        schemes: The schemes the backend accepts.
        default_port: The port when the URL names none.
        name: The server's name in messages (for example ``"Redis"``).
        expected: An example URL, shown when the scheme is wrong.
        not_a_string: When given, a non-string ``url`` raises `TypeError`
            with this text (followed by the type); otherwise it is not checked.

    Raises:
        TypeError: ``url`` is not a string and ``not_a_string`` is given.
        ValueError: The scheme is not one of ``schemes`` or the port is invalid.
    """
    if not_a_string is not None and not isinstance(url, str):
        raise TypeError(f"{not_a_string}, got {type(url).__name__}")
    text: str = url  # type: ignore[assignment]  # callers without the check pass strings
    parts = urlsplit(text)
    if parts.scheme not in schemes:
        raise ValueError(f"not a {name} URL: {text.split('://', 1)[0]}://...; expected {expected}")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ValueError(f"invalid port in {name} URL: {exc}") from None
    return f"{parts.hostname or 'localhost'}:{port}"
