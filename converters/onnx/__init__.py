"""Keras -> .onnx (tf2onnx, onnxruntime.quantization) and its embedded metadata."""
