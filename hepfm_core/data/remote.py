"""Remote inputs of ``hepfm convert``: ``http(s)://`` through uproot's fsspec backend (aiohttp,
requests) and ``root://`` through the optional XRootD extra. A missing backend says how to
install it; transient network failures (refused or dropped connections, timeouts, HTTP
408/425/429/5xx) are retried with a doubling wait (``RETRY_BACKOFF_S``, at most 30 s) and a
stall limit (``HEPFM_REMOTE_TIMEOUT``, ``HEPFM_REMOTE_RETRIES``); a failed download is a
``RemoteInputError`` naming the URL and the cause, never a corrupt file."""

from __future__ import annotations

import functools
import importlib
import math
import os
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import (
    RemoteInputError,
    SettingsError,
)

__all__ = [
    "RETRY_BACKOFF_S",
    "NetworkSettings",
]


RETRY_BACKOFF_S = 1.0


"""The wait before the first retry of a remote read, doubled at each further one (<= 30 s)."""


_MAX_BACKOFF_S = 30.0


_TIMEOUT_ENV = "HEPFM_REMOTE_TIMEOUT"


_RETRIES_ENV = "HEPFM_REMOTE_RETRIES"


_SETTINGS_TODO = (
    f"a slow or busy server: raise {_TIMEOUT_ENV} (seconds without an answer, default 60)"
    f" or {_RETRIES_ENV} (default 3), and run again"
)


# HTTP statuses worth another try: the server is busy, restarting or rate-limiting
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


# per URL scheme: the modules its uproot/fsspec backend needs, and how to install them
_BACKENDS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "http": (
        ("aiohttp", "requests"),
        "aiohttp and requests",
        "uv sync (they are dependencies of hepfm), or pip install aiohttp requests",
    ),
    "root": (
        ("fsspec_xrootd", "XRootD"),
        "the XRootD backend (fsspec-xrootd)",
        "uv sync --extra xrootd, or pip install 'hepfm[xrootd]' (pip install fsspec-xrootd)",
    ),
}


_T = TypeVar("_T")


@dataclass(frozen=True)
class NetworkSettings:
    """How remote inputs are read: ``timeout_s`` seconds without an answer (to connect, or
    between bytes) end an attempt; a transient failure is tried again ``retries`` times."""

    timeout_s: float = 60.0
    retries: int = 3

    @classmethod
    def from_env(cls) -> NetworkSettings:
        """The defaults, or ``HEPFM_REMOTE_TIMEOUT`` (seconds > 0) and ``HEPFM_REMOTE_RETRIES``
        (>= 0) where set (read where the file is read: on a cluster, the workers' environment).
        """
        timeout, retries = cls.timeout_s, cls.retries
        try:
            if os.environ.get(_TIMEOUT_ENV, "").strip():
                timeout = float(os.environ[_TIMEOUT_ENV])
            if os.environ.get(_RETRIES_ENV, "").strip():
                retries = int(os.environ[_RETRIES_ENV])
        except ValueError as exc:
            raise SettingsError(
                f"{_TIMEOUT_ENV} / {_RETRIES_ENV} is not a number ({exc})",
                f"{_TIMEOUT_ENV}={os.environ.get(_TIMEOUT_ENV, '')!r} "
                f"{_RETRIES_ENV}={os.environ.get(_RETRIES_ENV, '')!r}",
                "give seconds (e.g. 60) and a count (e.g. 3), or unset them",
            ) from exc
        if not (math.isfinite(timeout) and timeout > 0):
            raise SettingsError(
                f"{_TIMEOUT_ENV}={timeout}: the timeout must be a positive number of seconds",
                _TIMEOUT_ENV,
                "give e.g. 60, or unset it",
            )
        if retries < 0:
            raise SettingsError(
                f"{_RETRIES_ENV}={retries}: the retries must be 0 or more",
                _RETRIES_ENV,
                "give e.g. 3, or unset it",
            )
        return cls(timeout, retries)


def _scheme(source: str) -> str:
    scheme = source.split("://", 1)[0].lower()
    return "http" if scheme in ("http", "https") else scheme


def _missing_backend(source: str) -> RemoteInputError | None:
    """The error for a URL whose backend is not installed (None when it is, or unknown)."""
    backend = _BACKENDS.get(_scheme(source))
    if backend is None:
        return None
    modules, what, todo = backend
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return RemoteInputError(
                f"cannot read {source}: reading {_scheme(source)}:// inputs needs {what},"
                f" which is not installed ({type(exc).__name__}: {exc})",
                source,
                todo,
            )
    return None


def _raise_first(results: Any) -> Any:
    for item in results:
        if isinstance(item, BaseException):
            raise item
    return results


class _RaisingRanges:
    """An fsspec filesystem whose multi-range reads raise their first failure.

    fsspec's ``cat_ranges`` returns a failed range's exception in place of its bytes, and
    uproot then fails on it with a ``TypeError`` ("'ClientResponseError' object is not
    subscriptable") that hides the cause: an HTTP 503 or a dropped connection would read as a
    corrupt file, and would not be retried.
    """

    def __init__(self, fs: Any) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)

    async def _cat_ranges(self, *args: Any, **kwargs: Any) -> Any:
        return _raise_first(await self._fs._cat_ranges(*args, **kwargs))

    def cat_ranges(self, *args: Any, **kwargs: Any) -> Any:
        return _raise_first(self._fs.cat_ranges(*args, **kwargs))


@functools.cache
def _fsspec_source() -> type | None:
    """uproot's fsspec source (how it reads every URL) with :class:`_RaisingRanges`; None
    where this uproot's source is not built as expected (its plain source is used then)."""
    from uproot.source.fsspec import FSSpecSource

    if not callable(getattr(FSSpecSource, "_open", None)):
        return None

    class RaisingFSSpecSource(FSSpecSource):
        def _open(self) -> None:
            super()._open()
            self._fs = _RaisingRanges(self._fs)  # type: ignore[has-type]

    return RaisingFSSpecSource


def _uproot_options(source: str, network: NetworkSettings) -> dict[str, Any]:
    """uproot.open's options for ``source``: the source class, and the timeout in the form
    its backend takes."""
    handler = _fsspec_source()
    options: dict[str, Any] = {} if handler is None else {"handler": handler}
    scheme = _scheme(source)
    if scheme == "http":
        import aiohttp

        # no total limit (a large read may take long); a stalled connect or read ends it
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=network.timeout_s, sock_read=network.timeout_s
        )
        options["client_kwargs"] = {"timeout": timeout}
    elif scheme == "root":
        options["timeout"] = max(1, math.ceil(network.timeout_s))  # fsspec-xrootd: seconds
    return options


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _network_failure(source: str, exc: BaseException) -> tuple[str, bool, str] | None:
    """(the cause in words, whether another try may help, what to do) when reading the remote
    ``source`` failed in the network or at the server; None when the bytes themselves are bad.
    The whole chain of causes is searched, the most telling cause first."""
    chain = list(_chain(exc))

    def find(test: Callable[[BaseException], bool]) -> BaseException | None:
        return next((e for e in chain if test(e)), None)

    def first_line(e: BaseException) -> str:
        text = str(e).splitlines()[0][:200] if str(e) else ""
        return f"{type(e).__name__}: {text}" if text else type(e).__name__

    check = "check the URL, and that you can reach the server (a browser, curl)"
    if (e := find(lambda e: isinstance(e, ImportError))) is not None:
        backend = _BACKENDS.get(_scheme(source))
        todo = backend[2] if backend else "install the fsspec backend for this protocol"
        return f"a module its backend needs is missing ({first_line(e)})", False, todo
    http = find(
        lambda e: (
            isinstance(getattr(e, "status", None), int) and type(e).__module__.startswith("aiohttp")
        )
    )
    if http is not None:
        status = int(http.status)  # type: ignore[attr-defined]
        reason = getattr(http, "message", "") or ""
        cause = f"HTTP {status}" + (f" {reason}" if reason else "")
        if status == 416:
            return None  # a range past the end of the file: the file is cut short
        if status in _TRANSIENT_STATUS:
            return cause, True, _SETTINGS_TODO
        if status in (401, 403):
            return cause, False, "check that you may read it (credentials, a token)"
        return cause, False, check
    if find(lambda e: isinstance(e, FileNotFoundError)) is not None:
        cause = "HTTP 404 (not found)" if _scheme(source) == "http" else "not found"
        return f"{cause} on the server", False, "check the URL: the server has no such file"
    if find(lambda e: isinstance(e, ConnectionRefusedError)) is not None:
        return "connection refused", True, f"{check}; is the server up?"
    if find(lambda e: isinstance(e, TimeoutError) or "Timeout" in type(e).__name__):
        return "timed out: the server did not answer in time", True, _SETTINGS_TODO
    dropped = find(
        lambda e: (
            isinstance(e, ConnectionError)
            or type(e).__name__
            in ("ServerDisconnectedError", "ClientPayloadError", "ClientConnectionResetError")
        )
    )
    if dropped is not None:
        return f"the connection was dropped ({first_line(dropped)})", True, _SETTINGS_TODO
    tls = find(lambda e: isinstance(e, ssl.SSLError) or "SSL" in type(e).__name__)
    if tls is not None:
        return (
            f"a TLS (https) failure ({first_line(tls)})",
            False,
            "check the URL's scheme (http or https) and the server's certificate",
        )
    other = find(
        lambda e: (
            type(e).__module__.startswith("aiohttp")
            or (isinstance(e, OSError) and (e.errno is not None or _raised_in(e, _XROOTD_MODULES)))
        )
    )
    if other is not None:
        # cannot connect (name lookup, unreachable), a socket error, or XRootD's errors
        # (fsspec-xrootd raises OSError); not uproot's own OSError for a chunk cut short
        return first_line(other), True, check
    return None


_XROOTD_MODULES = ("fsspec_xrootd", "XRootD")


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether ``exc`` was raised in code of one of ``modules`` (its innermost frame)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith(modules)


def _remote_error(source: str, exc: BaseException) -> RemoteInputError | None:
    failure = _network_failure(source, exc)
    if failure is None:
        return None
    cause, transient, todo = failure
    error = RemoteInputError(f"cannot read {source}: {cause}", source, todo)
    error.transient = transient  # type: ignore[attr-defined]
    return error


def _retrying(source: str, network: NetworkSettings | None, attempt: Callable[[], _T]) -> _T:
    """``attempt()``, tried again on a transient ``RemoteInputError`` (``network.retries``
    times, waiting ``RETRY_BACKOFF_S`` doubled each time); the last error says how many."""
    tries = 1 + (network.retries if network is not None else 0)
    for n in range(tries):
        try:
            return attempt()
        except RemoteInputError as exc:
            if not getattr(exc, "transient", False):
                raise
            if n + 1 == tries:
                if tries == 1:
                    raise
                raise RemoteInputError(
                    f"{exc.what} (gave up after {tries} attempts)", exc.where, exc.todo
                ) from exc.__cause__
            time.sleep(min(RETRY_BACKOFF_S * 2**n, _MAX_BACKOFF_S))
    raise AssertionError("unreachable")
