"""docs/python-api.md's snippets, run as a reader would paste them (in a fresh folder), and the
facts the page states about what they print."""

import re
from pathlib import Path

import matplotlib

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "python-api.md"


def snippets() -> list[str]:
    """The page's ```python blocks, in order (the included example file is CI's own test)."""
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)


def test_the_page_has_the_compare_the_table_and_the_losses_snippets():
    found = snippets()
    assert len(found) == 3
    assert "bench.compare(" in found[0] and 'groupby(["noise", "entry"])' in found[1]


def test_the_python_api_page_runs_and_its_table_has_no_gaps(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in snippets():
        exec(compile(code, str(PAGE), "exec"), namespace)
    assert (tmp_path / "runs" / "mine" / "README.md").exists()
    final = namespace["final"]
    table = final.groupby(["noise", "entry"])["test_acc"].mean().unstack("noise")
    # by entry every loss has a score at every level (by loss, gce's tuned settings left NaNs)
    assert sorted(table.index) == ["ce", "gce", "sce:alpha=0.1:beta=1"]
    assert not table.isna().any().any()
    settings = final.groupby("entry")["loss"].unique()
    assert all(s.startswith("gce:q=") for s in settings["gce"])  # q tuned: a bare name
    # written parameters are kept: every sce run trained with alpha=0.1 and beta=1
    assert all(
        ":alpha=0.1:" in f"{s}:" and ":beta=1:" in f"{s}:" for s in settings["sce:alpha=0.1:beta=1"]
    )
