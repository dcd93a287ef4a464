"""Models from outside the repository, described by a TOML spec file: read and
checked (read.py, every problem with its key), turned into a ModelSpec (spec.py)
whose architecture is a Keras file loaded in safe mode (keras_file.py)."""
