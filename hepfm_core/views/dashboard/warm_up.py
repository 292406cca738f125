"""The investigation's warm-up: the model loaded, its decoder compiled and the
background's latent space tallied in a background thread, after the page has drawn, at a
lower priority, so that the first click on a count answers at once."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np

from ...common.collector import freeze_long_lived
from ...engine.evaluate import (
    Evaluator,
)
from ...engine.investigate.investigator import Investigator
from ...engine.scoring.run import prime_native_logs
from ...vocabulary import KLForm

__all__ = [
    "PAGE_DRAW_S",
    "PAGE_WAIT_S",
    "STOP_WAIT_S",
    "WARM_NICENESS",
    "page_drawn",
    "stop_warming",
    "warm_in_background",
    "warm_status",
    "yield_to_the_page",
]


_lock = threading.RLock()
_stopping = threading.Event()
_threads: list[threading.Thread] = []
STOP_WAIT_S = 60.0
"""How long the interpreter's exit waits for the warm-ups to stop at most."""
# keyed by the investigator itself, held weakly: an ``id`` outlives its object and is
# reused by a later one, which then read as warmed before (a test's flake, in CI)
_warming: weakref.WeakKeyDictionary[Investigator, tuple[float | None, str]] = (
    weakref.WeakKeyDictionary()
)
_page_drawn: weakref.WeakKeyDictionary[Investigator, threading.Event] = weakref.WeakKeyDictionary()
PAGE_WAIT_S = 60.0
"""How long a warm-up started with ``after_page`` waits for :func:`page_drawn` at most."""
PAGE_DRAW_S = 1.5
"""How long the process's first warm-up (its first page's) waits after :func:`page_drawn`:
the kernel's last cell has run, but the browser draws the first view for up to a second
more (its charts and tables, at the seed's scale), and TensorFlow's import would take a core
and the interpreter from the server that still sends it the page's last messages. A later
warm-up (a fill's new investigator) starts at once: waiting put its reads in the next
controls' responses (fill and bins 0.05 s slower in a paired probe)."""
_first_view_waited = False
_tallied_files: set[tuple[str, str]] = set()


def _first_of_its_files(investigator: Investigator) -> bool:
    """Whether ``investigator`` is the first warmed on its model and data files in this
    process. Another (the other fill, the other signal normalisation: a variant the page
    switches to) does not tally its latent space in its warm-up: seconds of NumPy holding
    the interpreter while the page answers that very switch (the fill control took 1.0-1.3 s
    in the kernel, against 0.3 s); its latent view tallies when first shown."""
    ev = investigator.evaluator
    key = (str(ev.model_path), str(ev.data.path))
    with _lock:
        first = key not in _tallied_files
        _tallied_files.add(key)
    return first


def warm_in_background(
    investigator: Investigator,
    *,
    kl_form: KLForm = "true",
    thread: Callable[..., threading.Thread] = threading.Thread,
    on_done: Callable[[], object] | None = None,
    prime_in_thread: bool = False,
    after_page: bool = False,
    freeze_after: bool = False,
) -> threading.Thread | None:
    """Load the model, compile its decoder, tally the background's latent space (``kl_form``)
    and read each sample's reference events in a background ``thread``, once per
    investigator, so that the first click on a count answers at once; then call
    ``on_done``. None when it started before. A failure is kept for :func:`warm_status` and
    left for the click to report. It needs no result: the app's cell that starts it does not
    run again when a setting changes.

    ``prime_in_thread``: TensorFlow's import and its once-per-process native log lines
    (``scoring.prime_native_logs``, seconds) happen in the thread too, off the page's
    critical path. Only where file descriptor 2 is not redirected per cell: ``marimo run``
    (a kernel is a thread of the server), a script or a test. ``marimo edit`` redirects fd 2
    of its kernel process to the running cell, so there the caller primes first.

    ``after_page``: the thread waits (at most :data:`PAGE_WAIT_S`) until the page's last
    cell calls :func:`page_drawn` (the process's first, then :data:`PAGE_DRAW_S` more while
    the browser draws the first view), so that the import and the reads do not compete with
    the first view for the interpreter and the cores (warm first views at the seed's scale,
    12 paired runs each: median 4.42 s with the wait, 4.80 s without); :func:`page_drawn`
    then primes where the caller would.

    ``freeze_after``: once warm, the process's objects are collected and frozen
    (:func:`~hepfm_core.common.collector.freeze_long_lived`), so that the collector's full
    passes no longer walk TensorFlow's and the model's millions of objects during a
    control's response. For a server; a test process keeps its collector as it is.
    """
    with _lock:
        if investigator in _warming:
            return None
        _warming[investigator] = (None, "")
        drawn = _page_drawn.setdefault(investigator, threading.Event()) if after_page else None
    if not prime_in_thread and drawn is None:
        # here, in the caller's thread: the compilation in the thread then prints nothing
        # that a notebook cell would catch (see scoring.prime_native_logs)
        prime_native_logs()

    def warm() -> None:
        if drawn is not None:
            waited = time.monotonic() + PAGE_WAIT_S
            while not drawn.wait(0.25) and time.monotonic() < waited:
                if _stopping.is_set():
                    return
            global _first_view_waited
            with _lock:
                first_view = drawn.is_set() and not _first_view_waited
                _first_view_waited = _first_view_waited or first_view
            if first_view and _stopping.wait(PAGE_DRAW_S):
                return
        t0 = time.perf_counter()
        error = ""
        try:
            _go_on()
            prime_native_logs()  # at once where the caller primed
            _go_on()
            forward = investigator.warm()
            here = isinstance(investigator.evaluator, Evaluator)  # else on a cluster
            if here:
                k = next(iter(investigator.passes("the warm-up").values())).latent_dim
            else:  # one event's pass row from the workers: the shards are there
                k = investigator.pass_rows("background", np.zeros(1, np.int64)).z_mean.shape[1]
            # the decoder compiled for its batch: the first page of events runs it
            forward.decode(np.zeros((1, k), dtype=np.float32))
            # the latent view's tallies of the background (its default sample): ticking it
            # then costs milliseconds. Seconds of NumPy over every event: at a lower
            # priority, after TensorFlow made its thread pools (they keep the one they got)
            yield_to_the_page()
            _go_on()
            if here and _first_of_its_files(investigator):
                investigator.latent_tally("background", kl_form)
            for name in investigator.evaluator.data.samples:
                _go_on()
                investigator.prefetch(name)
        except _Stopped:
            return  # the process is ending: nothing to report
        except Exception as exc:  # the click that needs it shows the error
            error = str(exc) or type(exc).__name__
        if freeze_after:
            freeze_long_lived()
        with _lock:
            _warming[investigator] = (time.perf_counter() - t0, error)
        if on_done is not None:
            on_done()

    started = thread(target=warm, name="hepfm-warm-investigator", daemon=True)
    with _lock:
        _threads.append(started)
    started.start()
    return started


class _Stopped(Exception):
    """The process is ending: a warm-up stops at its next step."""


def _go_on() -> None:
    if _stopping.is_set():
        raise _Stopped


def stop_warming(timeout: float = STOP_WAIT_S) -> bool:
    """Ask every warm-up of this process to stop at its next step, and wait for them (at
    most ``timeout`` seconds in all); True when none is left running. Run at the
    interpreter's exit (``atexit``). Why: a warm-up is a daemon thread, and one stopped by
    the interpreter's finalisation in the middle of an HDF5 read keeps h5py's lock for
    ever; the main thread's last h5py object then waits on it and the process never ends
    (seen: the app's tests passed, and pytest hung at its exit)."""
    _stopping.set()
    deadline = time.monotonic() + timeout
    with _lock:
        threads = list(_threads)
    for started in threads:
        if started.is_alive() and started is not threading.current_thread():
            started.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)


atexit.register(stop_warming)


WARM_NICENESS = 10
"""How much lower than the server's the warm-up thread's scheduling priority is (Linux)."""


def yield_to_the_page() -> bool:
    """Lower this thread's scheduling priority by :data:`WARM_NICENESS`, so that a warm-up
    (seconds of NumPy over every event, mostly outside the interpreter's lock) gives the
    cores to the kernel and the browser while a control's response is being computed and
    drawn. Linux only (a thread's own niceness); False elsewhere or where refused."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WARM_NICENESS)
    except OSError:
        return False
    return True


def page_drawn(investigator: Investigator, *, prime: bool = False) -> None:
    """The page's cells have run: a warm-up of ``investigator`` started with ``after_page``
    may go on. ``prime``: TensorFlow's native log lines are primed here first, in the
    caller's thread (see :func:`warm_in_background`)."""
    if prime:
        prime_native_logs()
    with _lock:
        drawn = _page_drawn.setdefault(investigator, threading.Event())
    drawn.set()


def warm_status(investigator: Investigator) -> str:
    """Where loading the model for the investigation stands, in words."""
    with _lock:
        held = _warming.get(investigator)
    if held is None or held[0] is None:
        return "Loading the model in the background for the events view…"
    seconds, error = held
    if error:
        return f"The model could not be loaded in the background ({error}); a click says why."
    return f"Model loaded in the background ({seconds:.1f} s): a click shows its events at once."
