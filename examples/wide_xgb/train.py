"""Train the wide_xgb example: the energy-study model (320 features, 40 trees of depth 6).

A synthetic binary task from scikit-learn's make_classification, wide enough that the CAM
mapping needs many column tiles (the MonoSparse-CAM setting). Run from this folder:
`python3 train.py`. Writes model.json (XGBoost JSON), float32 features, labels and XGBoost's own
predictions on X_test:

- expected_margin.npy: float32 [n, 1], `Booster.predict(DMatrix(X_test), output_margin=True)`
- expected_leaf.npy:   int32 [n, trees], `Booster.predict(..., pred_leaf=True)` (node id per tree)

Deterministic: fixed seeds and a single thread.
"""

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

SEED = 7

X, y = make_classification(
    n_samples=4000,
    n_features=320,
    n_informative=40,
    n_redundant=20,
    n_clusters_per_class=2,
    class_sep=1.0,
    random_state=SEED,
)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, random_state=SEED, stratify=y
)

clf = xgb.XGBClassifier(
    n_estimators=40,
    max_depth=6,
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

trees = booster.get_dump()
leaves = sum(t.count("leaf=") for t in trees)
acc = float(np.mean((margin[:, 0] > 0).astype(np.int64) == y_test))
print(f"trees={len(trees)} leaves={leaves} test_rows={len(X_test)} accuracy={acc:.4f}")
