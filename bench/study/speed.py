"""The batch-size sweep: how step time and throughput grow with the batch, per device.

Speed only: one loss (``ce``), one seed, a couple of epochs per batch size, so each row's step
times are those of a single model. Rows have results.csv's columns and go to OUT/speed.csv,
rewritten whole by each sweep (it takes seconds, there is nothing to resume).
"""

from __future__ import annotations

from bench.training import floors
from bench.training.config import RunConfig
from bench.training.loop import train

BATCH_SIZES = (64, 256, 1024, 4096)


def sweep(
    dataset,
    devices: list[str],
    batch_sizes,
    *,
    lr: float,
    epochs: int = 2,
    loss: str = "ce",
    should_stop=lambda: False,
    step_mode: str = "auto",
    model: str = "linear",
) -> list[dict]:
    """Train ``loss`` once per (device, batch size); return every epoch's row."""
    rows = []
    for device in devices:
        on_device = dataset.to(device)
        for batch_size in batch_sizes:
            floor = floors.gemm_floor(on_device, batch_size, model=model)
            config = RunConfig(
                loss=loss, device=device, seed=0, epochs=epochs, lr=lr, batch_size=batch_size,
                dataset=dataset.spec, model=model,
            )
            train(
                config,
                on_device,
                on_epoch=lambda row, f=floor: rows.append(
                    {**row, "floor_s": f, "concurrent": False}
                ),
                should_stop=should_stop,
                step_mode=step_mode,
            )
    return rows
