"""Analysis of finished runs: statistics, pandas views, calibration, evaluation, L-BFGS optimum."""
