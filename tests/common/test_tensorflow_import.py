"""TensorFlow imported by two threads at once: the dashboard warms the model in one while a
click loads it in another. Without one lock around the first import, Python's import-deadlock
detection hands one of them a partially initialised module (seen in the browser: "The model
could not be loaded in the background (partially initialized module ...)")."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from hepfm_core.engine.scoring.run import prime_native_logs
    from hepfm_core.sources import load_model

    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
    errors, start = [], threading.Barrier(2)

    def run(job):
        start.wait()
        try:
            job()
        except Exception as exc:
            errors.append(repr(exc))

    jobs = [prime_native_logs, lambda: load_model(sys.argv[1]).encoder]
    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print("errors:", errors)
    sys.exit(1 if errors else 0)
    """
)


def test_warming_and_a_click_import_tensorflow_together(small_demo):
    _, model = small_demo
    for _ in range(2):  # the race was lost every time without the lock; twice to be sure
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(model)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "errors: []" in done.stdout
