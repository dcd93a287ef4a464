"""What every stage stands on: keys and records, hashing, atomic writes, the worker pool, console and logs."""
