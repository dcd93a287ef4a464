"""Keras -> .mlpackage / .mlmodel (coremltools) and its embedded metadata."""
