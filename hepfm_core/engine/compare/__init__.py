"""Compare: several models on the same events.

Owns the paired statistics of two models (``paired``: DeLong's paired AUC test, efficiency
differences, seed spread) and the set of models evaluated under one setting (``models``:
:class:`ModelSet`, its labels and its comparisons).
"""
