"""Train the rf_treelite example: a scikit-learn random forest exported through Treelite to JSON.

Run from this folder: `python3 train.py`. scikit-learn has no portable model format of its own;
Treelite imports the fitted forest (`treelite.sklearn.import_model`) and writes it with
`Model.dump_as_json(pretty_print=False)` (Treelite 4.x JSON: float64 thresholds compared with
`<=`, one probability vector per leaf, `average_tree_output: true`). Also writes float32
features, labels and scikit-learn's own predictions on X_test:

- expected_margin.npy: float64 [n, 3], `RandomForestClassifier.predict_proba(X_test)` (the forest's
  raw output: the mean of the trees' leaf class distributions)
- expected_leaf.npy:   int32 [n, trees], `RandomForestClassifier.apply(X_test)` (node id per tree)

Deterministic: fixed seeds and a single job.
"""

import numpy as np
import treelite
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

SEED = 5

X, y = load_wine(return_X_y=True)
# scikit-learn trees work on float32 inputs (thresholds are float64 midpoints between float32
# values); casting first means the forest sees exactly what tessera will be given.
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.4, random_state=SEED, stratify=y
)

rf = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=SEED, n_jobs=1)
rf.fit(X_train, y_train)

model = treelite.sklearn.import_model(rf)
with open("model.json", "w") as f:
    f.write(model.dump_as_json(pretty_print=False))

proba = rf.predict_proba(X_test).astype(np.float64)
leaf = rf.apply(X_test).astype(np.int32)

# Sanity: Treelite's own inference agrees with scikit-learn on the exported model.
tl = treelite.gtil.predict(model, X_test, pred_margin=True).reshape(proba.shape)
assert np.max(np.abs(tl - proba)) < 1e-6, np.max(np.abs(tl - proba))

np.save("X_train.npy", np.ascontiguousarray(X_train, dtype=np.float32))
np.save("X_test.npy", np.ascontiguousarray(X_test, dtype=np.float32))
np.save("y_test.npy", y_test.astype(np.int64))
np.save("expected_margin.npy", proba)
np.save("expected_leaf.npy", leaf)

leaves = sum(int(e.tree_.n_leaves) for e in rf.estimators_)
depth = max(int(e.tree_.max_depth) for e in rf.estimators_)
acc = float(np.mean(proba.argmax(axis=1) == y_test))
print(f"trees={len(rf.estimators_)} leaves={leaves} max_depth={depth} "
      f"test_rows={len(X_test)} accuracy={acc:.4f}")
