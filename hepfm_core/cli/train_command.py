"""``hepfm train``: the VAE trained on a data folder's background."""

from __future__ import annotations

import argparse
from typing import Any

from ..vocabulary import PARAMETERISATIONS
from .outputs import print_epoch
from .to_settings import training_settings, vae_config

__all__ = ["add_train_parser", "cmd_train"]


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` to the ``hepfm`` subcommands (``subparsers`` of ``add_subparsers``)."""
    train = subparsers.add_parser("train", help="train the VAE on a data folder's background")
    train.add_argument("--data", required=True, help="hepfm or upstream data folder")
    train.add_argument("--out", required=True, help="model file to write (.keras)")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=1024)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--max-events", type=int, default=None)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--encoder", type=int, nargs="+", default=[128, 64, 32])
    train.add_argument("--decoder", type=int, nargs="+", default=[32, 64, 128])
    train.add_argument("--latent", type=int, default=16)
    train.add_argument("--activation", default="relu")
    train.add_argument("--parameterisation", choices=PARAMETERISATIONS, default="exp")
    train.add_argument("--beta-low", type=float, default=0.01)
    train.add_argument("--beta-high", type=float, default=0.1)
    train.set_defaults(func=cmd_train)
    return train


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``hepfm train``: print the model file written; 0."""
    from ..demo import train_on_folder

    settings = training_settings(args)
    config = vae_config(args)
    path = train_on_folder(
        args.data, args.out, config=config, settings=settings, on_epoch=print_epoch
    )
    print(f"model: {path}")
    return 0
