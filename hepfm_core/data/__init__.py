"""Data: samples (event matrices with provenance), hepfm's HDF5 layout, the demo generator,
normalisation and the accounting of filled (imputed) raw values."""
