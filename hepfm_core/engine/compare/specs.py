"""What the user named: ``--model [LABEL=]PATH[,PATH...]`` as model specs (one model, or a
seed group under a label), and the automatic label of a model (its name and short
fingerprint)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import SettingsError
from ...sources import ModelInfo

__all__ = [
    "LABEL_SEPARATOR",
    "MEMBER_SEPARATOR",
    "SHORT_FINGERPRINT",
    "ModelSpec",
    "is_comparison",
    "model_label",
    "parse_model_specs",
]


LABEL_SEPARATOR = "="


"""``--model LABEL=PATH``: what separates a label from its path."""


MEMBER_SEPARATOR = ","


"""``--model LABEL=PATH1,PATH2``: what separates the seeds of a model group."""


SHORT_FINGERPRINT = 8


"""Hex digits of a model's fingerprint in its automatic label."""


@dataclass(frozen=True)
class ModelSpec:
    """One ``--model`` argument: its model file(s) and an optional label.

    One path is one model; several (``LABEL=PATH1,PATH2,...``) are a seed group, which needs
    a label. Without a label, the model's name and short fingerprint label it
    (:func:`model_label`).
    """

    paths: tuple[Path, ...]
    label: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """``PATH``, ``LABEL=PATH`` or ``LABEL=PATH1,PATH2,...``.

        A text that names an existing file or folder is a path, whatever it holds (so a
        path with ``=`` or ``,`` in it still works).

        >>> from hepfm_core.engine.compare.specs import ModelSpec
        >>> ModelSpec.parse("latent8=runs/l8/model.keras")
        ModelSpec(paths=(PosixPath('runs/l8/model.keras'),), label='latent8')
        >>> [p.name for p in ModelSpec.parse("l8=a/s1.keras,a/s2.keras").paths]
        ['s1.keras', 's2.keras']
        """
        raw = text.strip()
        if not raw:
            raise SettingsError("an empty --model argument", "--model", "give PATH or LABEL=PATH")
        if Path(raw).exists():
            return cls((Path(raw),))
        label: str | None = None
        rest = raw
        head, sep, tail = raw.partition(LABEL_SEPARATOR)
        if sep and head.strip() and "/" not in head and "\\" not in head:
            label, rest = head.strip(), tail
        paths = tuple(Path(p.strip()) for p in rest.split(MEMBER_SEPARATOR) if p.strip())
        if not paths:
            raise SettingsError(
                f"--model {text!r} names no model file", "--model", "give LABEL=PATH"
            )
        if label is not None and (label in (".", "..") or label.startswith(".")):
            raise SettingsError(
                f"the label {label!r} cannot name a folder of --scores-out",
                f"--model {text}",
                "start a label with a letter or digit",
            )
        if len(paths) > 1 and label is None:
            raise SettingsError(
                f"a model group ({len(paths)} files) needs a label",
                f"--model {text}",
                "write --model LABEL=PATH1,PATH2,... (one variant trained with several seeds)",
            )
        return cls(paths, label)


def parse_model_specs(texts: Sequence[str] | str) -> tuple[ModelSpec, ...]:
    """Every ``--model`` argument parsed (a single string is one argument)."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise SettingsError("no --model given", "--model", "give at least one --model PATH")
    return tuple(ModelSpec.parse(t) for t in items)


def is_comparison(specs: Sequence[ModelSpec]) -> bool:
    """Whether the models named make a comparison (more than one model file in all): one
    plain ``--model`` keeps ``hepfm evaluate``'s single-model output."""
    return sum(len(s.paths) for s in specs) > 1


def model_label(info: ModelInfo) -> str:
    """A model's automatic label: its name and short fingerprint, ``model@1a2b3c4d``.

    The name is the file's stem (a hepfm ``.keras`` file) or the experiment folder's name
    (upstream); the fingerprint tells apart two files of the same name.
    """
    path = Path(info.path)
    name = path.stem if info.kind == "hepfm" else path.name
    digest = info.fingerprint.rsplit("-", 1)[-1]
    return f"{name}@{digest[:SHORT_FINGERPRINT]}"
