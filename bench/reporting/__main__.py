"""``python -m bench.reporting OUT``: remake OUT/README.md and its figures without training.

Argument parsing only: the report is written by ``bench.report`` (bench.api), the one code path
that also holds OUT's lock while it writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reporting",
        description="Remake OUT/README.md and its figures from OUT's files, without training.",
    )
    parser.add_argument("out", type=Path, help="a results folder written by python -m bench")
    args = parser.parse_args(argv)
    from bench import api
    from bench.study.lock import LockedError

    try:
        path = api.report(args.out)
    except (api.UsageError, LockedError) as error:  # no results there, or a run is writing them
        print(f"bench.reporting: error: {error}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
