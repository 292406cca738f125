"""Compare: several models on the same events.

Owns the paired statistics of two models (``paired``: the events both keep, DeLong's paired
AUC test, Holm's correction; ``efficiency``: efficiency differences at working points;
``seeds``: the seed-to-seed spread of a model group) and the set of models evaluated under
one setting (``models``: :class:`ModelSet`, its labels and its comparisons).
"""
