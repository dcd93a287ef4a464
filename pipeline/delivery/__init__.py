"""What app teams touch: the index, pull, predict and inspect."""
