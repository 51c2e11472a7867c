"""Peers measured beside lossbench on the same machine and data: the textbook loop, scikit-learn."""
