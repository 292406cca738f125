"""The upstream pipeline's files: its processed datasets, its experiment folders (rebuilt as
hepfm's VAE) and which dataset an experiment was trained on."""
