"""Tests of posepipe.models: the zoo, codecs, registry."""
