"""The report's opening: title and protocol, the machine, the workloads, and what makes the losses
of a workload comparable."""

from __future__ import annotations

import pandas as pd

import losses
from bench import environment as machine
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload


def title(meta: dict, workloads: list[Workload]) -> str:
    """The title, what was trained under which protocol, how many runs finished, the command."""
    config = meta.get("config", {})
    devices = ", ".join(config.get("devices", []))
    if not workloads:
        return (f"# lossbench report\n\nNo runs are recorded in results.csv yet.\n\n```\n"
                f"{meta.get('command', '')}\n```")
    if len(workloads) == 1:
        w = workloads[0]
        count = w.final.loc[w.final["trainer"] == "lossbench", "loss"].nunique()
        what = f"{subject(w)} under {count} losses on {devices}"
    else:
        what = f"{len(workloads)} workloads (dataset × model), each under its losses, on {devices}"
    finished = sum(len(w.final) for w in workloads)
    unfinished = sum(w.unfinished for w in workloads)
    several = len(workloads) > 1
    text = (f"# lossbench report\n\n{what}: {protocol(config, grid=not several)}. {finished} "
            "runs finished")  # fmt: skip
    text += f", {unfinished} unfinished (excluded from every table)." if unfinished else "."
    # a folder of several workloads was written by several commands: each is in run.json
    commands = [c["command"] for c in meta.get("commands", [])] if several else []
    commands = list(dict.fromkeys(commands)) or [meta.get("command", "")]
    return text + "\n\n```\n" + "\n".join(commands) + "\n```"


def protocol(config: dict, *, grid: bool = True) -> str:
    """The protocol every run of the folder shares, in words; with ``grid`` also its seeds and
    noise levels (a folder of several workloads states those per workload instead)."""
    rate = {
        "fixed": f"one rate for all, {config.get('lr')}",
        "defaults": "each loss's built-in rate",
        "tuned": "each loss's rate chosen on a validation split (below)",
    }.get(config.get("rates"), "as recorded")
    text = (f"minibatch SGD, batch {config.get('batch_size')}, {config.get('schedule')} "
            f"learning-rate schedule, {rate}")
    if not grid:
        return text + " (the epochs of each workload are listed below, its seeds and noise " \
            "levels in the first table)"  # fmt: skip
    text = f"{config.get('epochs')} epochs of {text}"
    return (text + f"; seeds {config.get('seeds')}; label noise: "
            f"{', '.join(config.get('noise', ['none']))}")


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
    return (f"{text}, {inputs} → {data.num_classes} classes, trained on {w.dataset} "
            f"({len(data.train_y):,} training and {len(data.test_y):,} test {w.noun})")


def environment(meta: dict) -> str:
    """The machine every number was measured on (run.json's ``environment``) and the notes."""
    env = meta.get("environment", {})
    lines = [
        "## Environment",
        "",
        f"Every number below was measured on this machine: {machine.describe(env)}.",
        "",
        f"- Python {env.get('python')}, torch {env.get('torch')}, "
        f"torchvision {env.get('torchvision')}",
        f"- CPU: {env.get('cpu')}, {env.get('threads')} threads",
    ]
    if env.get("cuda") in (None, "no CUDA device"):
        lines.append(
            "- GPU: **no CUDA device was available**, so this report has CPU rows only; "
            "the GPU rows are absent because there was no GPU, not left out."
        )
    else:
        lines.append(f"- GPU: {env['cuda']}")
    cluster = meta.get("parallel")
    if cluster:
        where = (f"a local Dask cluster of {cluster['workers']} single-threaded workers"
                 if cluster.get("workers") else f"the Dask cluster at {cluster['scheduler']}")
        lines.append(f"- The runs and tuning trials ran on {where}; runs that shared a host "
                     "with other workers are marked `concurrent` in results.csv and no speed "
                     "is read from them.")  # fmt: skip
        if cluster.get("stack", False):
            lines.append("- Its linear-model runs of one seed and noise level trained together, as "
                         "one stack of weights (step mode `stacked`: one batch gather and one "
                         "GEMM per step for every loss, each loss's value and gradient on its "
                         "own scores); each run's rows are those its single run writes, and "
                         "its seconds come from its loss trained alone.")  # fmt: skip
    lines += [f"- {note}" for note in meta.get("notes", [])]
    return "\n".join(lines)


def workload_list(workloads: list[Workload]) -> str:
    """The list of a folder's workloads, when it holds several."""
    lines = ["## Workloads", ""]
    for w in workloads:
        mine = w.final[w.final["trainer"] == "lossbench"]
        epochs = " or ".join(str(e) for e in sorted(mine["epochs"].astype(int).unique()))
        lines.append(f"- **{w.title}**: {subject(w)}; {mine['loss'].nunique()} losses, "
                     f"{epochs} epochs, {len(w.final)} runs finished")  # fmt: skip
    return "\n".join(lines)


def workload_intro(w: Workload) -> str:
    """The heading of one workload's sections, when a folder holds several."""
    return f"## {w.title}\n\n{subject(w)}." + notes(w)


def notes(w: Workload) -> str:
    """What the dataset says about how its data were made, as sentences (or nothing)."""
    if w.data is None or not w.data.notes:
        return ""
    return "\n\n" + " ".join(w.data.notes)


def comparability(w: Workload) -> str:
    specs = w.final.loc[w.final["trainer"] == "lossbench", "loss"].drop_duplicates()
    frame = pd.DataFrame([{"loss": s, **_describe(s)} for s in specs])
    return (
        "## What makes the losses comparable\n\n"
        "Every loss sees the same model, initial weights (per seed), batches (per seed), "
        "schedule and number of steps; what differs is below. The trainer averages each "
        "example's loss over the batch.\n\n" + markdown_table(frame)
    )


def _describe(spec: str) -> dict[str, str]:
    try:
        return losses.parse(spec).describe()
    except ValueError as error:  # a plug-in loss not imported in this process
        return {"family": f"not registered here ({error})"}
