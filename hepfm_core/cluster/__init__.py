"""Past one machine: hepfm's scoring, guards and metrics on a Dask cluster.

``connect`` reaches (or starts) a cluster and checks its workers, ``tasks`` is what the
workers run, ``evaluator`` the ``ClusterEvaluator`` whose results equal the single-process
ones, ``slurm`` the recipe for a batch system through dask-jobqueue.
"""
