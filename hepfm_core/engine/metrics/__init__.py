"""Metrics: how well scores separate a background from a signal.

Owns ROC curves and AUC with their uncertainty (``roc``), HEP working points and the max
SIC (``working_points``), Wilson and bootstrap intervals (``intervals``), one signal's
separation (``separation``) and histogram binning that stays bounded by bins (``binning``).
Pure arrays in, dataclasses out; imports no other sub-stage.
"""
