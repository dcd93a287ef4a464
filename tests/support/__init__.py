"""What the tests share: the tiny-model harness, the report's browser check, Core ML cases, subprocess entry points."""
