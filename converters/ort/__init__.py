""".onnx -> .ort (ONNX Runtime's own converter), its required-operators config and embedded metadata."""
