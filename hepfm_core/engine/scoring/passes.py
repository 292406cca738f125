"""The result of one scoring pass: what the model said about every event of one sample.

A ``ScoringPass`` is what the expensive step (``scoring.py``, TensorFlow) produces and
caches on disk; everything after it (guards, metrics, binning, charts) reads only this.
Arrays may be read-only memory maps shared between dashboard viewers: never write to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DECODER_FINITE",
    "ENCODER_FINITE",
    "F16_OVERFLOW",
    "F32_OVERFLOW",
    "INPUT_FINITE",
    "RECON_F16_OVERFLOW",
    "RECON_F32_OVERFLOW",
    "ScoringPass",
    "overflow_threshold",
    "read_only",
]

# Bits of ``ScoringPass.finite``: which stage of the forward pass was entirely finite.
INPUT_FINITE = np.uint8(1)
ENCODER_FINITE = np.uint8(2)  # z_mean and z_log_var all finite
DECODER_FINITE = np.uint8(4)  # every reconstructed input finite
# Further bits: the reconstruction sum upstream computed in float32 / float16 would have been
# non-finite (a squared difference or the sum above that type's maximum).
RECON_F32_OVERFLOW = np.uint8(8)
RECON_F16_OVERFLOW = np.uint8(16)


def overflow_threshold(dtype: type[np.floating]) -> float:
    """The smallest magnitude that rounds to +-inf in ``dtype``: max + half an ulp.

    Round-to-nearest sends everything below it to a finite value (65510 becomes 65504 in
    float16) and the tie at it to inf (max has an odd mantissa), so "overflows" is
    ``abs(x) >= overflow_threshold(dtype)``. Shared by the scoring pass and the guards.
    """
    info = np.finfo(dtype)
    top = float(info.max)
    return top + (top - float(np.nextafter(info.max, info.dtype.type(0)))) / 2


def read_only(a: np.ndarray) -> np.ndarray:
    """``a``, marked read-only (results are shared between viewers: nobody may write)."""
    a.flags.writeable = False
    return a


F32_OVERFLOW = overflow_threshold(np.float32)
F16_OVERFLOW = overflow_threshold(np.float16)


@dataclass(frozen=True, eq=False)
class ScoringPass:
    """Per-event outputs of encoder and decoder for one sample (z = z_mean, float32 model).

    z_mean, z_log_var: ``(n, k)`` float32, raw from the encoder (no clip).
    sum_mu2: ``(n,)`` float64, sum_j z_mean_j^2 computed in float64.
    recon: ``(n,)`` float64, sum_i (x_i - x_hat_i)^2 computed in float64 from float32 x, x_hat.
    finite: ``(n,)`` uint8 bit mask of ``INPUT_FINITE | ENCODER_FINITE | DECODER_FINITE``,
        plus ``RECON_F32_OVERFLOW`` / ``RECON_F16_OVERFLOW`` where the unguarded upstream
        reconstruction sum in that precision would have been non-finite.
    directory: the cache entry the arrays were opened from (None: computed in memory);
        quantities derived once per pass are cached beside them there.
    """

    z_mean: np.ndarray
    z_log_var: np.ndarray
    sum_mu2: np.ndarray
    recon: np.ndarray
    finite: np.ndarray
    directory: Path | None = field(default=None, repr=False)

    @property
    def n_events(self) -> int:
        return int(self.recon.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.z_log_var.shape[1])
