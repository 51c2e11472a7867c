"""The report's opening: title and protocol, the machine, the workloads, and what makes the losses
of a workload comparable."""

from __future__ import annotations

import shlex
from pathlib import PurePath

import pandas as pd

import losses
from bench.reporting import prose
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload, noise_order
from bench.training.config import TRAINER


def facts(meta: dict, workloads: list[Workload]) -> dict:
    """What the opening line states: the subject, the protocol, the runs, and the provenance
    (lossbench's version and commit, the machine) from run.json."""
    config, env = meta.get("config", {}), meta.get("environment", {})
    if len(workloads) == 1:
        w = workloads[0]
        mine = w.final[w.final["trainer"] == TRAINER]
        # a loss is its entry (family); tuning may train several settings of it
        count, settings = entries(mine).nunique(), mine["loss"].nunique()
        what = f"{subject(w)} under {prose.count(count, 'loss', 'losses')}"
        if settings > count:
            what += f" ({prose.count(settings, 'setting')} that trained)"
    else:
        what = f"{len(workloads)} workloads (dataset × model), each under its losses"
    return {
        "what": f"{what} on {', '.join(config.get('devices', []))}",
        "protocol": protocol(config, grid=len(workloads) == 1, ran=workloads),
        "finished": sum(len(w.final) for w in workloads),
        "unfinished": sum(w.unfinished for w in workloads),
        "version": env.get("lossbench"),
        "commit": short(env.get("commit")),
        "provenance": provenance(env),
        "cpu": env.get("cpu"),
        "threads": env.get("threads"),
        "cuda": env.get("cuda"),
        "torch": env.get("torch"),
        "speed_only": bool(workloads) and all(w.speed_only for w in workloads),
    }


def title(meta: dict, workloads: list[Workload]) -> str:
    """The title, what was trained under which protocol, how many runs finished, and which
    lossbench on which machine measured them."""
    return prose.render("header", **facts(meta, workloads))


def short(commit: str | None) -> str | None:
    """A commit as people quote it: "706371b" or "706371b, modified" (run.json's "<sha>
    (modified)"); "unknown" and None stay as they are."""
    if commit is None:
        return None
    sha, _, rest = commit.partition(" ")
    if len(sha) != 40:
        return commit
    return sha[:7] + (f", {rest.strip('()')}" if rest else "")


def provenance(env: dict) -> str:
    """Which lossbench measured the folder: "lossbench 0.1.0 (commit 706371b, modified)", from
    run.json's environment, or a folder written before run.json recorded it said as such."""
    return prose.render("provenance", version=env.get("lossbench"), commit=short(env.get("commit")))


def optimizers(config: dict, workloads: list[Workload] | None = None) -> list[dict]:
    """The optimisers the folder's runs trained with (results.csv's ``optimizer``, else
    run.json's config; plain SGD before either recorded one), each as its name and parameters:
    [{"name": "momentum", "params": {"beta": "0.9", "wd": "0.0005"}}]."""
    specs = []
    for w in workloads or []:
        if "optimizer" in w.final:
            specs += [str(s) for s in w.final["optimizer"].dropna().unique() if str(s)]
    specs = list(dict.fromkeys(specs)) or [str(config.get("optimizer") or "sgd")]
    out = []
    for spec in specs:
        name, *pairs = spec.split(":")
        out.append({"name": name, "params": dict(p.split("=", 1) for p in pairs if "=" in p)})
    return out


def protocol(config: dict, *, grid: bool = True, ran: list[Workload] | None = None) -> str:
    """The protocol every run of the folder shares, in words; with ``grid`` also its epochs,
    seeds and noise levels (a folder of several workloads states those per workload)."""
    return prose.render(
        "protocol",
        grid=grid,
        optimizers=optimizers(config, ran),
        epochs=config.get("epochs"),
        batch_size=batch_sizes(ran) or [config.get("batch_size")],
        schedule=config.get("schedule"),
        rates=config.get("rates"),
        lr=config.get("lr"),
        seeds=seed_counts(ran) or [len(config.get("seeds", []))],
        noise=levels(ran) or config.get("noise", ["none"]),
    )


def batch_sizes(ran: list[Workload] | None) -> list[int]:
    """The batch sizes the folder's runs trained with (workloads may differ: the memorisation
    MLP's 128 beside the linear model's 256), smallest first; [] without runs."""
    found = {
        int(size)
        for w in ran or []
        if "batch_size" in w.final.columns
        for size in w.final["batch_size"].dropna().unique()
    }
    return sorted(found)


def seed_counts(ran: list[Workload] | None) -> list[int]:
    """The fewest and the most seeds a loss trained at one noise level (one number where all
    trained as many; the race gives some losses more), from the runs; [] without them."""
    counts = [
        n
        for w in ran or []
        if {"noise", "loss", "seed"} <= set(w.final.columns)
        for n in w.final.groupby(["noise", "loss"], dropna=False)["seed"].nunique()
    ]
    return sorted({min(counts), max(counts)}) if counts else []


def levels(ran: list[Workload] | None) -> list[str]:
    """The noise levels the folder's runs trained at (run.json's config holds only the last
    command's), clean first, then by kind and rate."""
    if not ran:
        return []
    found = {noise for w in ran for noise in w.final["noise"].dropna().unique()}
    return sorted(found, key=noise_order)


def relative(command: str) -> str:
    """``command`` as anyone can run it: its --out folder as OUT, any other absolute path by its
    name alone (a machine's folders mean nothing elsewhere)."""
    words = shlex.split(command)
    shown = []
    for before, word in zip(["", *words], words, strict=False):
        if before == "--out":
            word = "OUT"
        elif word.startswith("--out="):
            word = "--out=OUT"
        elif word.startswith("/"):
            word = PurePath(word).name or word
        shown.append(word)
    return shlex.join(shown)


def subject(w: Workload) -> str:
    """The model and the data of a workload: "Softmax regression (...), 784 pixels (28×28) →
    10 classes, trained on fashion_mnist (60,000 training and 10,000 test images)"."""
    model = w.model_part.describe() if w.model_part is not None else w.model
    text = model[:1].upper() + model[1:]
    data = w.data
    if data is None:
        return f"{text} trained on {w.dataset}"
    inputs = f"{data.num_features:,} inputs"
    if data.image_shape:
        inputs = f"{data.num_features:,} pixels ({'×'.join(map(str, data.image_shape))})"
    return (
        f"{text}, {inputs} → {data.num_classes} classes, trained on {w.dataset} "
        f"({len(data.train_y):,} training and {len(data.test_y):,} test {w.noun})"
    )


def environment(meta: dict) -> str:
    """The machine every number was measured on (run.json's ``environment``), the cluster, the
    notes, and the commands that wrote the folder, relative to it: the opening of "How fast,
    and why"."""
    env = meta.get("environment", {})
    commands = [c["command"] for c in meta.get("commands", [])] or [meta.get("command", "")]
    gpu = None if env.get("cuda") in (None, "no CUDA device") else env["cuda"]
    return prose.render(
        "machine",
        cpu=env.get("cpu"),
        threads=env.get("threads"),
        gpu=gpu,
        python=env.get("python"),
        torch=env.get("torch"),
        torchvision=env.get("torchvision"),
        provenance=provenance(env),
        cluster=meta.get("parallel"),
        # the missing GPU is said once, in the line above: not again as --devices auto's note
        notes=[n for n in meta.get("notes", []) if gpu or not n.startswith("No CUDA device")],
        commands=list(dict.fromkeys(relative(c) for c in commands if c)),
    )


def entries(runs):
    """Each run's loss as asked (its ``entry``), or the setting where a folder predates it."""
    if "entry" not in runs:
        return runs["loss"]
    entry = runs["entry"].astype(object)  # all-NaN where a folder predates it: float64
    return entry.where(entry.notna(), runs["loss"])


def workload_facts(w: Workload) -> dict:
    """One workload in the folder's list: title, subject, losses, epochs, finished runs."""
    mine = w.final[w.final["trainer"] == TRAINER]
    return {
        "title": w.title,
        "subject": subject(w),
        "losses": entries(mine).nunique(),
        "epochs": sorted(int(e) for e in mine["epochs"].unique()),
        "runs": len(w.final),
        "speed_only": w.speed_only,
    }


def workload_list(workloads: list[Workload]) -> str:
    """The list of a folder's workloads, when it holds several."""
    return prose.render("workloads", workloads=[workload_facts(w) for w in workloads])


def workload_intro(w: Workload) -> str:
    """The heading of one workload's sections, when a folder holds several."""
    return f"## {w.title}\n\n{subject(w)}." + notes(w)


def notes(w: Workload) -> str:
    """What the dataset says about how its data were made, as sentences (or nothing)."""
    if w.data is None or not w.data.notes:
        return ""
    return "\n\n" + " ".join(w.data.notes)


def comparability(w: Workload) -> str:
    """What every loss shares, and a table of what differs (each loss's ``describe()``)."""
    specs = w.final.loc[w.final["trainer"] == TRAINER, "loss"].drop_duplicates()
    frame = pd.DataFrame([{"loss": s, **_describe(s)} for s in specs])
    return prose.render("comparability", table=markdown_table(frame))


def _describe(spec: str) -> dict[str, str]:
    try:
        return losses.parse(spec).describe()
    except ValueError as error:  # a plug-in loss not imported in this process
        return {"family": f"not registered here ({error})"}
