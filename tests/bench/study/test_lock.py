"""One writer per results folder: a second run stops at once; a dead holder never blocks."""

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.study.lock import LOCK_NAME, LockedError, OutLock

HOLD = """
import sys, time
from bench.study.lock import OutLock
with OutLock(sys.argv[1], "python -m bench --out x"):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_another_process(out):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(LockedError) as info, OutLock(tmp_path):
            pass
        message = str(info.value)
        assert f"pid {holder.pid}" in message and str(tmp_path) in message
        assert "wait for it, or use another --out" in message and "\n" not in message
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_run_never_blocks_the_next(tmp_path):
    holder = hold_in_another_process(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the file stays; the kernel dropped the lock
    with OutLock(tmp_path, "next"):
        assert (tmp_path / LOCK_NAME).read_text().split("\n")[0] == str(os.getpid())


def test_the_lock_is_released_on_exit_and_reentrant_in_sequence(tmp_path):
    for _ in range(2):
        with OutLock(tmp_path):
            time.sleep(0)
