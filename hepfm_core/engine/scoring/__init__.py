"""Scoring: the model run once over every event of a sample, cached on disk.

Owns the scoring pass (``passes``: per event z_mean, z_log_var, the float64 reconstruction
error and sum of mu^2, and which stages were finite) and its computation and cache (``run``:
data read ahead, the model compiled with XLA, passes published whole and memory-mapped). The
only sub-stage that runs TensorFlow; everything above reads its passes.
"""
