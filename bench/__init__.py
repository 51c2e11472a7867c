"""lossbench's runner: which loss should train my classifier, and what does each one cost?

import bench
df = bench.compare(losses=["ce", "huber"], epochs=5, seeds=2, out="runs/mine")
bench.report("runs/mine")
"""

from bench.api import compare, report

__all__ = ["compare", "report"]
