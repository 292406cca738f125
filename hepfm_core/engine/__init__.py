"""The engine: one scoring pass per sample (TensorFlow, cached), then guarded scores, the
non-finite policy and the separation metrics, pure and fast (arrays in, dataclasses out).

Sub-stages, each importing only those below it (``[tool.importlinter]``):
``compare`` and ``investigate`` -> ``evaluate`` (the :class:`Evaluator`: every sample's pass,
guards and metrics under one setting) -> ``distributed`` (partitions merged exactly) ->
``guards`` and ``metrics`` (independent of each other) -> ``scoring``.
"""
