"""The model: the Keras VAE (architecture and training) and hepfm's ``.keras`` model files."""
