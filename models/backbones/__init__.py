"""Building blocks and backbones shared by the zoo's architectures."""
