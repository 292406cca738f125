"""Keep known start-up chatter of native libraries out of terminals and notebook outputs.

TensorFlow's XLA compiler logs through absl before absl's logging is initialised, which no
environment variable silences ("All log messages before absl::InitializeLog() ..." and
"Compiled cluster using XLA!"). Those lines land on file descriptor 2, so a marimo cell that
scores a sample would show them as its output. :func:`filtered_native_stderr` captures fd 2
for the duration of a block and writes back every line except the known benign ones: a
real native error still reaches the user.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BENIGN_NATIVE_LINES", "filtered_native_stderr"]

BENIGN_NATIVE_LINES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|Compiled cluster using XLA!"
)
"""Lines dropped from the captured output (everything else is written back)."""

_lock = threading.Lock()


@contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Capture file descriptor 2 inside the block; write back all but the benign lines.

    Process-wide (fd 2 is shared by every thread), so blocks are serialised with a lock and
    should stay short: a model's first compilation, not a whole scoring pass.

    >>> with filtered_native_stderr():
    ...     _ = os.write(2, b"Compiled cluster using XLA!  This line is logged at most once\\n")
    """
    with _lock:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (a detached process): nothing to filter
            yield
            return
        with tempfile.TemporaryFile() as capture:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                text = capture.read().decode("utf-8", errors="replace")
        kept = [line for line in text.splitlines(True) if not BENIGN_NATIVE_LINES.search(line)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
