"""Training: a run's configuration, the loop, the CUDA-graph step, timers, floors, stacked tuning.

Training knows nothing of the study: it takes a RunConfig and a Dataset and reports rows.
"""
