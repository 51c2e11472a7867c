"""Name what ran: a loss's family (``entry``) beside the setting that trained (``loss``).

A suite entry without parameters (``gce``, ``nce+mae``) tunes its own hyperparameters per
workload, so the spec that trained differs between workloads (``gce:q=0.3`` here, ``gce:q=0.5``
there). A frame of results carries both: ``entry`` to follow a loss across workloads, ``loss`` to
tell a reader what to copy. Older folders recorded a suite entry with the parameters it was
written with (``gce:q=0.7``) even where tuning replaced them; :func:`families` names such an
entry by the parameters that every run kept, so nothing downstream names a setting that never ran.

Spec strings are read as text (``W*NAME:key=value:...`` terms joined by ``+``), so a plug-in
loss this process has not imported is named too. Nothing here formats a sentence.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def terms(spec: str) -> list[tuple[str | None, str, dict[str, str]]]:
    """The terms of a spec: (weight or None, name, {key: value}) each, in order.

    ``"1*nce+0.5*l1:on=probs"`` -> [("1", "nce", {}), ("0.5", "l1", {"on": "probs"})]."""
    out = []
    for term in str(spec).split("+"):
        weight, _, rest = term.rpartition("*") if "*" in term else (None, "", term)
        name, *pairs = rest.split(":")
        params = dict(p.split("=", 1) if "=" in p else (p, "") for p in pairs)
        out.append((weight or None, name, params))
    return out


def spec(parsed: list[tuple[str | None, str, dict[str, str]]]) -> str:
    """The spec string of :func:`terms`' output."""
    words = []
    for weight, name, params in parsed:
        text = ":".join([name, *(f"{k}={v}" for k, v in params.items())])
        words.append(f"{weight}*{text}" if weight is not None else text)
    return "+".join(words)


def family(entry: str, specs: Iterable[str]) -> str:
    """The name of ``entry`` that every one of the ``specs`` it trained as agrees with: the
    entry itself when each spec is the entry (it ran as written), else the entry without the
    weights and parameters that tuning changed somewhere (``gce:q=0.7`` that trained as
    ``gce:q=0.3`` and ``gce:q=0.5`` is ``gce``). Specs whose terms are not the entry's (another
    loss, or a sum of other parts) leave the entry's term names alone."""
    specs = list(dict.fromkeys(specs))
    if all(s == entry for s in specs):
        return entry
    mine = terms(entry)
    parsed = [terms(s) for s in specs]
    if any([t[1] for t in p] != [t[1] for t in mine] for p in parsed):
        return spec([(None, name, {}) for _, name, _ in mine])
    weights = all(p[i][0] == w for p in parsed for i, (w, _, _) in enumerate(mine))
    kept = []
    for i, (weight, name, params) in enumerate(mine):
        same = {k: v for k, v in params.items() if all(p[i][2].get(k) == v for p in parsed)}
        kept.append((weight if weights else None, name, same))
    return spec(kept)


def tuned(family_name: str, setting: str) -> str:
    """What tuning chose, beyond the family's name: ``"q=0.3"`` for ``gce`` that trained as
    ``gce:q=0.3``, ``"w=1,0.5"`` for ``nce+l1:on=probs`` that trained as
    ``1*nce+0.5*l1:on=probs``; "" when the setting is the family (it ran as written)."""
    if setting == family_name:
        return ""
    mine, theirs = terms(family_name), terms(setting)
    if [t[1] for t in mine] != [t[1] for t in theirs]:
        return setting
    words = []
    if any(w is None for w, _, _ in mine) and any(w is not None for w, _, _ in theirs):
        words.append("w=" + ",".join(w or "1" for w, _, _ in theirs))
    for (_, _, own), (_, _, params) in zip(mine, theirs, strict=True):
        words += [f"{k}={v}" for k, v in params.items() if own.get(k) != v]
    return ":".join(words)


def families(frame: pd.DataFrame) -> pd.Series:
    """Each row's family (:func:`family` of its ``entry`` over every ``loss`` that entry trained
    as in ``frame``). A frame without ``entry`` (or with a blank one) is named by ``loss``; two
    entries that would share one family name (``focal:gamma=1`` and ``focal:gamma=2`` both tuned)
    keep their own names, so they are never merged."""
    loss = frame["loss"].astype(str)
    if "entry" not in frame:
        return loss
    entry = frame["entry"].astype(object)
    entry = entry.where(entry.notna() & (entry.astype(str) != ""), loss).astype(str)
    specs = pd.DataFrame({"entry": entry, "loss": loss}).groupby("entry", sort=False)["loss"]
    named = {e: family(e, group.unique()) for e, group in specs}
    shared = pd.Series(named).value_counts()
    named = {e: (n if shared[n] == 1 else e) for e, n in named.items()}
    return entry.map(named)


def per_workload(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per family: each setting that trained and on how many of ``keys``' workloads.

    ``frame`` has ``keys``, ``entry`` (families, as :func:`families` gives) and ``loss``.
    Returns rows of ``entry``, ``tuned`` (:func:`tuned`; "" when it ran as written), ``loss``
    and ``workloads``, each family's most frequent setting first."""
    runs = frame[[*keys, "entry", "loss"]].drop_duplicates()
    counted = runs.groupby(["entry", "loss"], sort=False).size().rename("workloads").reset_index()
    counted["tuned"] = [tuned(e, s) for e, s in counted[["entry", "loss"]].itertuples(index=False)]
    counted = counted.sort_values(["entry", "workloads", "loss"], ascending=[True, False, True])
    return counted[["entry", "tuned", "loss", "workloads"]].reset_index(drop=True)
