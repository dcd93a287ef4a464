"""The zoo: one module per architecture, each defining its ModelSpec."""
