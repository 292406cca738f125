"""Investigate: the events behind a count, and whole-sample diagnostics.

Owns the selection of events (by cause, imputed inputs, top N, score range) and one event's
detail (``events``), what sets a selection apart (``explain``), the latent-space, residual
and sculpting diagnostics (``diagnostics``, from the per-pass tallies of ``latent_tally``
and their cache ``latent_tally_cache``), and the :class:`Investigator` that wires them to an
evaluator, the data files and the model (``investigator``).
"""
