"""Write a dataset as lossbench's .npz: scikit-learn's bundled wine data (178 examples,
13 features, 3 classes), split 75/25, stratified and seeded.

    python examples/make_npz.py wine.npz
    python -m bench --dataset npz:path=wine.npz:scale=standard --losses ce,l2 --epochs 20
"""

import sys

import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

wine = load_wine()
X_train, X_test, y_train, y_test = train_test_split(
    wine.data, wine.target, test_size=0.25, stratify=wine.target, random_state=0
)
path = sys.argv[1] if len(sys.argv) > 1 else "wine.npz"
np.savez(
    path,
    X_train=X_train,
    y_train=y_train,
    X_test=X_test,
    y_test=y_test,
    class_names=np.array(wine.target_names),
)
print(f"wrote {path}: {len(y_train)} training and {len(y_test)} test examples")
