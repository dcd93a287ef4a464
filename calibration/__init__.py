"""Datasets (the COCO-keypoints reader, the synthetic generator), preprocessing and
labelled sample sets."""
