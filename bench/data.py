"""``python -m bench.data [--data DIR] [--from GZ_DIR]``: provision Fashion-MNIST (make setup).

The command line of :mod:`bench.datasets.fashion_mnist`, kept under its documented name.
"""

import sys

from bench.datasets.fashion_mnist import main

if __name__ == "__main__":
    sys.exit(main())
