"""Native stderr filtering: benign absl/XLA start-up lines dropped, everything else kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from hepfm_core.common.native_log import filtered_native_stderr
    os.write(2, b"before\\n")
    with filtered_native_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are"
                    b" written to STDERR\\n")
        os.write(2, b"I0000 device_compiler.h:196] Compiled cluster using XLA!  This line\\n")
        os.write(2, b"E0000 something real went wrong\\n")
        print("python-level", file=sys.stderr)
    os.write(2, b"after\\n")
    """
)


def test_benign_lines_dropped_real_ones_kept_in_order():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines == ["before", "E0000 something real went wrong", "python-level", "after"]


@pytest.mark.slow  # imports TensorFlow
def test_real_xla_compile_leaves_no_chatter():
    """The lines a first XLA compilation prints are gone; the result is unchanged."""
    script = textwrap.dedent(
        """
        from hepfm_core.common.native_log import filtered_native_stderr
        with filtered_native_stderr():
            import tensorflow as tf
            f = tf.function(lambda x: tf.reduce_sum(x * 2.0), jit_compile=True)
            value = float(f(tf.ones([4])))
        print(value)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "8.0"
    assert "XLA" not in out.stderr and "absl" not in out.stderr, out.stderr
