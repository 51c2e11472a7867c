"""MkDocs hook: "The zoo", one page per registered loss, generated from the registry at build time.

Each page reads the loss class itself: its docstring (the formula), ``paper``, ``code`` and
``departures`` (where lossbench departs from the official code, and why), its parameters'
defaults and ``sweep``, a gradient plot (``losses.plots``), the properties that
``losses.properties`` measures (tests/losses/test_properties.py checks each against the formula),
and the study's verdicts for it, read from reports/study/answer.csv when the site is built, so a
regenerated study updates the pages. The study's report (reports/study/README.md and the figures
it links) is added to the site, so the pages link into it. Nothing here is written to docs/: the
pages exist only in the built site.
"""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import jinja2
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "reports" / "study"
NAV_TITLE = "The zoo"
REPORT_PAGE = "study/index.md"  # the study's README, as a page of the site
VERDICTS = ("best", "equivalent", "worse", "undecided")
TEMPLATES = Path(__file__).resolve().parent / "templates"


def template(name: str) -> jinja2.Template:
    """docs/templates/NAME.md.j2, the words of a generated page."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True, lstrip_blocks=True
    )
    return environment.get_template(f"{name}.md.j2")


PAGE = template("zoo_page")

INDEX = template("zoo_index")


def built_in() -> list[str]:
    """The registered losses that ship with lossbench (plug-ins register more), sorted."""
    from losses.base import REGISTRY

    return sorted(n for n, c in REGISTRY.items() if c.__module__.startswith("losses."))


def hyperparameters(name: str) -> pd.DataFrame:
    """Columns parameter, default, sweep: the loss's parameters (its spec's dataclass fields)."""
    from losses.base import REGISTRY

    cls = REGISTRY[name]
    rows = [
        {
            "parameter": f.name,
            "default": f.default,
            "sweep": ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
            if (values := cls.sweep.get(f.name))
            else "not swept",
        }
        for f in dataclasses.fields(cls)
        if f.compare
    ]
    return pd.DataFrame(rows, columns=["parameter", "default", "sweep"])


def names_in(entry: str) -> set[str]:
    """The registered losses in a study entry: its own name, or every term's of a sum."""
    import losses
    from losses.sums import WeightedSum

    loss = losses.parse(entry)
    if isinstance(loss, WeightedSum):
        return {term.name for _, term in loss.terms}
    return {loss.name}


def study_rows(name: str, answer: pd.DataFrame, *, sums: bool = True) -> pd.DataFrame:
    """The answer.csv rows of every study entry that is ``name`` (or, with ``sums``, a sum
    with it as a term), with a ``workload`` column "dataset · model · noise" (and the selection
    where the file has one). Shape: a subset of ``answer``'s rows, in its order."""
    if answer.empty:
        return answer.assign(workload=pd.Series(dtype=str))
    import losses

    def mine_entry(entry: str) -> bool:
        return name in names_in(entry) if sums else losses.parse(entry).name == name

    mine = answer["entry"].map(mine_entry)
    rows = answer[mine].copy()
    rows["workload"] = rows["dataset"] + " · " + rows["model"] + " · noise " + rows["noise"]
    if "selection" in rows:
        rows["workload"] += " · " + rows["selection"].astype(str)
    return rows


def verdict_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Entry × verdict counts (columns ``VERDICTS``, 0 where none), entries in first-seen order."""
    counts = pd.crosstab(rows["entry"], rows["verdict"]).reindex(columns=list(VERDICTS))
    order = list(dict.fromkeys(rows["entry"]))
    return counts.fillna(0).astype(int).reindex(order).reset_index()


def report_anchors(markdown: str) -> dict[str, str]:
    """Each heading of a Markdown page -> its id as the ``toc`` extension makes it (first one
    wins), so links into the report are checked by ``mkdocs build --strict``."""
    from markdown.extensions.toc import slugify, unique

    ids: set[str] = set()
    anchors: dict[str, str] = {}
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"#{1,6} (.+?)\s*#*$", line)
        if match:
            anchor = unique(slugify(match.group(1), "-"), ids)
            anchors.setdefault(match.group(1), anchor)
    return anchors


def page(name: str, answer: pd.DataFrame, anchors: dict[str, str], props) -> str:
    """The Markdown page of the registered loss ``name``."""
    import inspect

    from losses import nn, prior
    from losses.base import REGISTRY

    cls = REGISTRY[name]
    docstring = inspect.cleandoc(cls.__doc__ or "")
    rows = study_rows(name, answer)
    study = [
        {
            "entry": row.entry,
            "workload": row.workload,
            # a folder of several workloads heads each "dataset · model"; one of a single
            # workload has no such heading, and its verdicts are under "Per loss"
            "anchor": anchors.get(f"{row.dataset} · {row.model}", anchors.get("Per loss", "")),
            "loss": row.loss,
            "verdict": row.verdict,
            "difference": difference(row),
        }
        for row in rows.itertuples()
    ]
    loss = cls()
    return PAGE.render(
        name=name,
        title=summary(nn.NAMED[name].__doc__ if name in nn.NAMED else docstring),
        family_line=" · ".join(f"{k}: {v}" for k, v in loss.describe().items()),
        docstring=docstring,
        paper=getattr(cls, "paper", None) or "not declared",
        code=getattr(cls, "code", None) or "none known",
        departures=getattr(cls, "departures", ()),
        has_code=getattr(cls, "code", None) is not None,
        parameters=hyperparameters(name).to_dict("records"),
        prior=prior.reads_prior(name),
        module=nn.NAMED[name].__name__ if name in nn.NAMED else "Criterion",
        props=props,
        study=study,
        counts=verdict_counts(rows).to_dict("records") if study else [],
        report=f"../{REPORT_PAGE}",
    )


def summary(docstring: str | None) -> str:
    """A docstring's first paragraph, on one line."""
    import inspect

    first = inspect.cleandoc(docstring or "").split("\n\n")[0]
    return " ".join(first.split())


def difference(row) -> str:
    """The paired difference to the best in points, with its interval where there is one."""
    if row.verdict == "best" or pd.isna(row.diff):
        return "—"
    text = f"{100 * row.diff:+.2f}"
    if not (pd.isna(row.lower) or pd.isna(row.upper)):
        text += f" [{100 * row.lower:+.2f}, {100 * row.upper:+.2f}]"
    return text


def index(answer: pd.DataFrame, measured: dict) -> str:
    """The zoo's first page: every loss, its family, its properties and its verdict counts."""
    import losses

    rows = []
    for name in built_in():
        props = measured[name]
        counts = verdict_counts(study_rows(name, answer, sums=False)).drop(columns="entry").sum()
        yes = {True: "yes", False: "no"}
        rows.append(
            {
                "name": name,
                "family": losses.parse(name).family or "user",
                "symmetric": yes[props.symmetric],
                "bounded": yes[props.bounded],
                "lipschitz": yes[props.lipschitz],
                "wrong_trend": props.wrong_trend,
                "study": " / ".join(str(counts.get(v, 0)) for v in VERDICTS)
                if counts.sum()
                else "not in the study",
            }
        )
    return INDEX.render(rows=rows)


def load_answer(path: Path = STUDY / "answer.csv") -> pd.DataFrame:
    """The study's answer.csv, or an empty frame where there is none yet."""
    if not path.exists():
        return pd.DataFrame(columns=["dataset", "model", "noise", "entry", "loss", "verdict"])
    return pd.read_csv(path)


def gradient_png(name: str) -> bytes:
    """The loss's three panels (loss, likelihood, gradient) from ``losses.plots``, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import losses
    from losses import plots

    figure = plots.plot_loss(losses.parse(name))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


# -- the hooks ---------------------------------------------------------------------------------
def on_config(config):
    """Expand the nav's "The zoo" entry into the index, a page per loss and the report."""
    pages = ["zoo/index.md", *({name: f"zoo/{name}.md"} for name in built_in())]
    pages.append({"The study's report": REPORT_PAGE})
    for position, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and NAV_TITLE in item:
            config["nav"][position] = {NAV_TITLE: pages}
    return config


def on_files(files, config):
    """Add the zoo's pages and figures, and the study's report with the files it links."""
    from mkdocs.structure.files import File

    import losses
    from losses import properties

    answer = load_answer()
    report = (STUDY / "README.md").read_text() if (STUDY / "README.md").exists() else "# Study\n"
    anchors = report_anchors(report)
    measured = {name: properties.measure(losses.parse(name)) for name in built_in()}
    files.append(File.generated(config, "zoo/index.md", content=index(answer, measured)))
    for name in built_in():
        content = page(name, answer, anchors, measured[name])
        files.append(File.generated(config, f"zoo/{name}.md", content=content))
        files.append(File.generated(config, f"zoo/{name}.png", content=gradient_png(name)))
    files.append(File.generated(config, REPORT_PAGE, content=report))
    for target in sorted(set(re.findall(r"\]\(([^)#\s:]+)\)", report))):
        if (STUDY / target).is_file():
            files.append(
                File.generated(config, f"study/{target}", abs_src_path=str(STUDY / target))
            )
    return files
