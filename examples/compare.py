"""Compare your own loss with ce on your own data from Python, then write the report.

python examples/make_npz.py wine.npz
python examples/compare.py wine.npz runs/wine [EPOCHS]
"""

import sys

import bench
from losses import plugins

data, out = sys.argv[1], sys.argv[2]
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
plugins.load("examples/my_losses.py")  # registers "cauchy"
df = bench.compare(
    losses=["ce", "cauchy:c=0.5"],
    dataset=f"npz:path={data}:scale=standard",
    epochs=epochs,
    seeds=2,
    out=out,
    reference_iters=0,
    report=False,
)
final = df[df["epoch"] == df["epochs"]]
print(final.groupby("loss")["test_acc"].mean().round(4).to_string())
print(f"report: {bench.report(out)}")
