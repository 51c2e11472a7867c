"""Provenance: which lossbench (version, git commit) measured a folder, as run.json records it."""

import importlib.metadata
import shutil
import subprocess

import pytest

from bench import environment

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(root, *args):
    command = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def test_version_is_the_installed_packages():
    assert environment.version() == importlib.metadata.version("lossbench")


@needs_git
def test_commit_names_the_head_and_says_modified_when_a_tracked_file_changed(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "commit", "-q", "-m", "one")
    sha = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "untracked.py").write_text("")  # untracked files do not make it modified
    assert environment.commit(tmp_path) == sha
    (tmp_path / "a.py").write_text("x = 2\n")
    assert environment.commit(tmp_path) == f"{sha} (modified)"


def test_commit_is_unknown_outside_a_git_checkout(tmp_path):
    assert environment.commit(tmp_path) == "unknown"


def test_environment_records_version_and_commit():
    env = environment.environment()
    assert env["lossbench"] == importlib.metadata.version("lossbench")
    assert env["commit"] == environment.commit()
