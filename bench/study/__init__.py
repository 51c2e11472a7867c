"""The study: the grid of runs, results.csv and resume, the lock, rate tuning and side caches."""
