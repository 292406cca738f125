"""The engine: one scoring pass per sample (TensorFlow, cached), then guarded scores, the
non-finite policy and the separation metrics, pure and fast (arrays in, dataclasses out)."""
