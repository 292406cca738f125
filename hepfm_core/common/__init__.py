"""Utilities that know nothing of hepfm's stages: fingerprints, the cache folder, the data
root, progress bars and library versions."""
