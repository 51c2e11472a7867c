"""The batch-size sweep: how step time and throughput grow with the batch, per device.

Speed only: one loss (``ce``), one seed, a couple of epochs per batch size, so each row's step
times are those of a single model. Rows have results.csv's columns and go to OUT/speed.csv,
rewritten whole by each sweep (it takes seconds, there is nothing to resume). On a CUDA device
with ``step_mode="auto"`` each batch size runs twice, as captured CUDA graphs and eagerly, so
the report shows what the graphs buy (``step_mode`` tells the rows apart).
"""

from __future__ import annotations

from bench.training import floors, graphs
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
                loss=loss,
                device=device,
                seed=0,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                dataset=dataset.spec,
                model=model,
            )
            for mode in modes(device, step_mode):
                train(
                    config,
                    on_device,
                    on_epoch=lambda row, f=floor: rows.append(
                        {**row, "floor_s": f, "concurrent": False}
                    ),
                    should_stop=should_stop,
                    step_mode=mode,
                )
    return rows


def modes(device: str, step_mode: str) -> list[str]:
    """The step modes the sweep runs on ``device``: ``step_mode``, and eager beside auto where
    the steps can be captured as CUDA graphs."""
    if step_mode == "auto" and graphs.available(device):
        return ["auto", "eager"]
    return [step_mode]
