"""Train the breast_cancer_xgb example: XGBoost binary:logistic on scikit-learn's breast_cancer.

Run from this folder: `python3 train.py`. Writes model.json (XGBoost JSON), the float32 feature
matrices, labels and XGBoost's own predictions that tessera's tests compare against:

- expected_margin.npy: float32 [n, 1], `Booster.predict(DMatrix(X_test), output_margin=True)`
- expected_leaf.npy:   int32 [n, trees], `Booster.predict(..., pred_leaf=True)` (node id per tree)

Deterministic: fixed seeds and a single thread.
"""

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

SEED = 0

X, y = load_breast_cancer(return_X_y=True)
# XGBoost works in float32; casting first means the thresholds are learnt on the exact values
# tessera will be given.
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=SEED, stratify=y
)

clf = xgb.XGBClassifier(
    n_estimators=50,
    max_depth=4,
    learning_rate=0.3,
    objective="binary:logistic",
    tree_method="hist",
    random_state=SEED,
    n_jobs=1,
)
clf.fit(X_train, y_train)
booster = clf.get_booster()
booster.save_model("model.json")

dtest = xgb.DMatrix(X_test)
margin = booster.predict(dtest, output_margin=True).astype(np.float32).reshape(len(X_test), -1)
leaf = booster.predict(dtest, pred_leaf=True).astype(np.int32).reshape(len(X_test), -1)

np.save("X_train.npy", np.ascontiguousarray(X_train, dtype=np.float32))
np.save("X_test.npy", np.ascontiguousarray(X_test, dtype=np.float32))
np.save("y_test.npy", y_test.astype(np.int64))
np.save("expected_margin.npy", margin)
np.save("expected_leaf.npy", leaf)

acc = float(np.mean((margin[:, 0] > 0).astype(np.int64) == y_test))
print(f"trees={leaf.shape[1]} test_rows={len(X_test)} accuracy={acc:.4f}")
