"""Encoders and decoders: heatmaps (DARK, quarter step), regressed coordinates, PoseNet, PAF."""
