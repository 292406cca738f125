"""Distributed: guards and metrics of a sample cut into partitions, merged exactly.

Owns the partition summaries and their merge (``partitions``) and the exact order statistics
of a background without sorting it whole (``order_statistics``). What the cluster's workers
ship and the client merges; the single-process path does not need it.
"""
