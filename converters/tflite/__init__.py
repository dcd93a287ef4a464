"""Keras -> .tflite (TFLiteConverter) and its embedded metadata."""
