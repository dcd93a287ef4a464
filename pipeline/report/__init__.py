"""The HTML report: the page, its chart and the keypoint overlays."""
