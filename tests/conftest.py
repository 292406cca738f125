"""Shared test fixtures: the upstream fixture folder, a small demo made once per session,
and a check that the suite leaves the git working tree as it found it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Files written by upstream's own pipeline; see tests/data/README.md.
UPSTREAM_SMALL = Path(__file__).resolve().parent / "data" / "upstream_small"

# Set to 0 to skip the clean-tree check (e.g. while others edit the same checkout).
TREE_CHECK_ENV = "HEPFM_TREE_CHECK"
# Git-ignored folders that running Python, pytest and ruff may create: not a test's doing.
BENIGN_IGNORED = frozenset({"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".venv"})


def git_status(root: Path) -> set[str] | None:
    """``git status`` lines of the checkout at ``root``: every untracked or changed file, and
    the ignored files and folders; None when ``root`` is not the top of a git checkout."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # never take the index lock

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != root.resolve():
        return None
    changed = git("status", "--porcelain", "--untracked-files=all")
    ignored = git("status", "--porcelain", "--ignored")
    if changed is None or ignored is None:
        return None
    lines = set(changed.splitlines())
    for line in ignored.splitlines():
        path = line[3:].strip('"')
        if line.startswith("!!") and not BENIGN_IGNORED & set(Path(path).parts):
            lines.add(line)
    return lines


@pytest.fixture(autouse=True)
def _reads_unconfined() -> Iterator[None]:
    """Each test starts without the data-root confinement an app run sets for its process
    (``paths.confine_reads``), and leaves none behind."""
    from hepfm_core.common import paths

    paths.confine_reads(None)
    yield
    paths.confine_reads(None)


@pytest.fixture(scope="session", autouse=True)
def _tree_left_clean() -> Iterator[None]:
    """Fail the session if the tests leave new untracked, changed or ignored files in the
    checkout (``git status`` compared before and after; skipped outside a git checkout)."""
    before = None if os.environ.get(TREE_CHECK_ENV) == "0" else git_status(REPO)
    yield
    if before is None:
        return
    after = git_status(REPO)
    new = sorted((after or set()) - before)
    assert not new, (
        "the tests left files in the working tree (`git status --porcelain --ignored`):\n  "
        + "\n  ".join(new)
        + f"\n(if someone else changed the tree meanwhile, rerun, or set {TREE_CHECK_ENV}=0)"
    )


@pytest.fixture(scope="session")
def upstream_fixture() -> Path:
    """The upstream pipeline's own output files, kept in ``tests/data/upstream_small``."""
    if not (UPSTREAM_SMALL / "_processed_datasets").is_dir():
        pytest.fail(
            f"upstream fixture folder missing: {UPSTREAM_SMALL} (it is part of the repository;"
            " restore it with git)",
            pytrace=False,
        )
    return UPSTREAM_SMALL


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, headless, as root, on a machine without outside network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep every test's scoring passes and scan memos out of the user's cache directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEPFM_CACHE_DIR", str(tmp_path_factory.mktemp("hepfm-cache")))
        yield


@pytest.fixture(scope="session")
def marimo_env(tmp_path_factory) -> dict[str, str]:
    """Extra environment for marimo subprocesses: its ``__marimo__/`` output (session
    snapshots, caches) goes under a temporary folder instead of next to the notebook."""
    # marimo mirrors <notebook folder>/__marimo__ under sys.pycache_prefix when it is set
    return {"PYTHONPYCACHEPREFIX": str(tmp_path_factory.mktemp("marimo-out"))}


@pytest.fixture(scope="session")
def chromium_launch() -> dict:
    """Keyword arguments for playwright's ``chromium.launch``; skips without chromium."""
    from pathlib import Path as _Path

    if not _Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not installed at {CHROMIUM} (apt-get install chromium)")
    return {"executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


SMALL_BACKGROUND = 20_000
SMALL_SIGNAL = 2_000


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, model path) of a small seeded demo trained for a few epochs."""
    from hepfm_core.demo import make_demo
    from hepfm_core.model.training import TrainingSettings

    out = tmp_path_factory.mktemp("demo")
    data_dir, model = make_demo(
        out,
        n_background=SMALL_BACKGROUND,
        n_signal=SMALL_SIGNAL,
        seed=7,
        progress=lambda *a: None,
        training=TrainingSettings(epochs=4, batch_size=512, patience=4),
    )
    return data_dir, model


SECOND_LATENT = 4


@pytest.fixture(scope="session")
def second_model(small_demo, tmp_path_factory) -> Path:
    """A second model of the small demo, another variant: latent size 4 (the demo's is 16),
    smaller layers, another seed, a few epochs."""
    from hepfm_core.demo import train_on_folder
    from hepfm_core.model.training import TrainingSettings
    from hepfm_core.model.vae import VAEConfig

    config = VAEConfig(
        input_dim=1,  # replaced by the data's feature count
        encoder_layers=(64, 32),
        decoder_layers=(32, 64),
        latent_dim=SECOND_LATENT,
    )
    settings = TrainingSettings(epochs=3, batch_size=512, patience=3, seed=11)
    out = tmp_path_factory.mktemp("second") / "latent4.keras"
    return train_on_folder(small_demo[0], out, config=config, settings=settings)


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """A small demo data folder without a model."""
    from hepfm_core.data.generator import GeneratorConfig, generate_dataset

    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, 5_000, 1_000, GeneratorConfig(seed=3), None)
    return out


# Fixtures that train a model or write a demo: every test that needs one (directly or through
# another fixture) is marked ``slow``, so that ``pytest -m "not slow"`` stays a fast loop.
SLOW_FIXTURES = frozenset({"small_demo", "second_model", "small_data", "chromium_launch"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def strict_loads(text: str):
    """``json.loads`` that refuses NaN and Infinity tokens (our JSON must be strict)."""

    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="session")
def strict_json():
    """The strict JSON loader (a fixture, since test modules do not import conftest)."""
    return strict_loads


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No data-root or demo variables set (``HEPFM_DATA_ROOT``, ``XDG_DATA_HOME``, the
    ``HEPFM_DEMO_*`` sizes)."""
    from hepfm_core import demo
    from hepfm_core.common import paths

    for name in (
        paths.DATA_ROOT_ENV,
        "XDG_DATA_HOME",
        demo.BACKGROUND_ENV,
        demo.SIGNAL_ENV,
        demo.EPOCHS_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def small_fs(tmp_path):
    """A factory of small tmpfs filesystems under ``tmp_path`` (for full-disk and read-only
    faults): ``small_fs(kib, readonly=False)`` mounts one and returns its folder; unmounted
    after the test. Skips with the reason where mounting is not allowed (not root)."""
    import shutil

    mounted: list[Path] = []

    def make(kib: int, *, readonly: bool = False) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("a small filesystem needs `mount` as root; not allowed here")
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        options = f"size={kib}k" + (",ro" if readonly else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not allowed here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield make
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill_disk(folder: Path, leave: int = 0) -> None:
    """Fill the filesystem of ``folder`` until at most ``leave`` bytes are free."""
    free = shutil_free(folder)
    with open(folder / "filler", "wb") as fh:
        try:
            fh.write(b"\0" * max(free - leave, 0))
            fh.flush()
        except OSError:
            pass


def shutil_free(folder: Path) -> int:
    import shutil

    return shutil.disk_usage(folder).free


@pytest.fixture
def filled():
    """``fill_disk`` (a fixture, since test modules do not import conftest)."""
    return fill_disk
