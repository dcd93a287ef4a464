"""Numbers against the reference and the task: comparators, task metrics, OKS."""
