from __future__ import annotations

import subprocess
import sys

from hepfm_core.common.import_ahead import FIRST_VIEW_MODULES, import_ahead


def test_the_modules_are_imported_in_a_thread_and_a_missing_one_is_left_to_its_user():
    """In a fresh interpreter (nothing imported before): the thread imports the first view's
    modules; a module that does not exist stops nothing and raises nowhere."""
    code = (
        "import sys\n"
        "from hepfm_core.common.import_ahead import FIRST_VIEW_MODULES, import_ahead\n"
        "assert not any(m in sys.modules for m in FIRST_VIEW_MODULES)\n"
        "t = import_ahead(('hepfm_no_such_module', *FIRST_VIEW_MODULES))\n"
        "assert t.daemon and t.name == 'hepfm-import-ahead'\n"
        "t.join(120)\n"
        "print(all(m in sys.modules for m in FIRST_VIEW_MODULES), t.is_alive())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
    assert "Traceback" not in out.stderr


def test_the_first_view_needs_scipy_special():
    """The module named is the one the efficiencies' intervals import when first asked."""
    import inspect

    from hepfm_core.engine.metrics import intervals

    assert "scipy.special" in FIRST_VIEW_MODULES
    assert "scipy.special" in inspect.getsource(intervals)
    assert import_ahead(()).join(5) is None
