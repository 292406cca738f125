"""``hepfm train``: the flags reach the training (its settings and architecture), and the
model file's path is printed."""

from __future__ import annotations

from pathlib import Path

from hepfm_core import demo
from hepfm_core.cli import main
from hepfm_core.cli.outputs import print_epoch


def test_train_passes_its_settings_and_prints_the_model(monkeypatch, tmp_path, capsys):
    from hepfm_core.model.training import BetaSchedule, TrainingSettings
    from hepfm_core.model.vae import VAEConfig

    seen = {}

    def train_on_folder(data, out, *, config, settings, on_epoch):
        seen.update(data=data, out=out, config=config, settings=settings, on_epoch=on_epoch)
        return Path(out)

    monkeypatch.setattr(demo, "train_on_folder", train_on_folder)
    out = tmp_path / "m.keras"
    argv = ["train", "--data", "d", "--out", str(out), "--epochs", "2", "--latent", "8"]
    assert main([*argv, "--beta-high", "0.5"]) == 0
    assert seen["data"] == "d" and seen["out"] == str(out)
    assert seen["settings"] == TrainingSettings(epochs=2, beta=BetaSchedule(cycle_high=0.5))
    assert seen["config"] == VAEConfig(input_dim=1, latent_dim=8)
    assert seen["on_epoch"] is print_epoch
    assert capsys.readouterr().out == f"model: {out}\n"


def test_an_unknown_activation_exits_2(capsys):
    code = main(["train", "--data", "d", "--out", "m.keras", "--activation", "swoosh"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown activation 'swoosh'" in err
    assert err.startswith("hepfm: error:") and "Traceback" not in err
