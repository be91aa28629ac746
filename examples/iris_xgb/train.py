"""Train the iris_xgb example: XGBoost multi:softprob (3 classes) on scikit-learn's iris.

Run from this folder: `python3 train.py`. Writes model.json (XGBoost JSON), float32 features,
labels and XGBoost's own predictions on X_test:

- expected_margin.npy: float32 [n, 3], `Booster.predict(DMatrix(X_test), output_margin=True)`
- expected_leaf.npy:   int32 [n, trees], `Booster.predict(..., pred_leaf=True)` (node id per tree;
  trees are ordered round by round, class 0, 1, 2 within a round)

Deterministic: fixed seeds and a single thread.
"""

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

SEED = 1

X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.4, random_state=SEED, stratify=y
)

clf = xgb.XGBClassifier(
    n_estimators=20,
    max_depth=3,
    learning_rate=0.3,
    objective="multi:softprob",
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

trees = booster.get_dump()
leaves = sum(t.count("leaf=") for t in trees)
acc = float(np.mean(margin.argmax(axis=1) == y_test))
print(f"trees={len(trees)} leaves={leaves} test_rows={len(X_test)} accuracy={acc:.4f}")
