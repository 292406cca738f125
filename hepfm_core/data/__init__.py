"""Data: samples (event matrices with provenance), hepfm's HDF5 layout, the demo generator,
normalisation (and its exact streamed estimate), the accounting of filled (imputed) raw values,
and PhysLite ROOT files in (``convert``: ``physlite`` derivations, ``root_io`` reading) and
out (the demo's)."""
