"""The grid of runs: every (dataset, model, loss, device, seed, noise) a study trains."""

from __future__ import annotations

from bench.training.config import RunConfig


def expand(
    specs,
    devices,
    seeds,
    *,
    lrs: dict[str, float],
    settings: dict[str, str] | None = None,
    **protocol,
) -> list[RunConfig]:
    """Every (loss, device, seed) run, devices outermost so each device's data moves once.

    ``specs`` are the suite's entries; ``settings`` maps an entry to the spec it trains with
    (its tuned setting; the entry itself when absent), ``lrs`` an entry to its rate. ``seeds``
    is one range for all, or a mapping entry -> its seeds (the rounds of bench.study.rounds).
    ``protocol`` holds the RunConfig fields all share (epochs, batch size, schedule, noise,
    dataset, model)."""
    settings = settings or {}
    return [
        RunConfig(
            loss=settings.get(spec, spec),
            entry=spec,
            device=device,
            seed=seed,
            lr=lrs[spec],
            **protocol,
        )
        for device in devices
        for spec in specs
        for seed in (seeds[spec] if isinstance(seeds, dict) else seeds)
    ]


def textbook_run(epochs: int, batch_size: int, seed: int = 0, model: str = "linear") -> RunConfig:
    """The D2L textbook loop's run: ce on the CPU at the book's constant rate 0.1, for the
    book's model (chapter 3's softmax regression, or chapter 4's MLP)."""
    from bench.peers import textbook

    return RunConfig(
        loss="ce",
        device="cpu",
        seed=seed,
        epochs=epochs,
        lr=textbook.LR,
        batch_size=batch_size,
        schedule="constant",
        trainer=textbook.NAME,
        model=model,
        entry="ce",
    )
