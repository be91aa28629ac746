"""Train the diabetes_lgbm example: a LightGBM regressor on scikit-learn's diabetes data.

Run from this folder: `python3 train.py`. Writes model.txt (LightGBM's native text model,
`Booster.save_model`), float32 features, float32 targets and LightGBM's own predictions:

- expected_margin.npy: float64 [n, 1], `Booster.predict(X_test, raw_score=True)`
- expected_leaf.npy:   int32 [n, trees], `Booster.predict(X_test, pred_leaf=True)` (LightGBM leaf
  index within each tree)

Deterministic: fixed seeds, `deterministic=True` and a single thread.
"""

import lightgbm as lgb
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

SEED = 3

X, y = load_diabetes(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=SEED)

params = dict(
    objective="regression",
    num_leaves=15,
    learning_rate=0.05,
    min_data_in_leaf=10,
    seed=SEED,
    deterministic=True,
    force_row_wise=True,
    num_threads=1,
    verbose=-1,
)
booster = lgb.train(params, lgb.Dataset(X_train, y_train), num_boost_round=100)
booster.save_model("model.txt")

margin = booster.predict(X_test, raw_score=True).astype(np.float64).reshape(len(X_test), -1)
leaf = booster.predict(X_test, pred_leaf=True).astype(np.int32).reshape(len(X_test), -1)

np.save("X_train.npy", np.ascontiguousarray(X_train, dtype=np.float32))
np.save("X_test.npy", np.ascontiguousarray(X_test, dtype=np.float32))
np.save("y_test.npy", y_test.astype(np.float32))
np.save("expected_margin.npy", margin)
np.save("expected_leaf.npy", leaf)

rmse = float(np.sqrt(np.mean((margin[:, 0] - y_test) ** 2)))
print(f"trees={booster.num_trees()} leaves={int((leaf.max(axis=0) + 1).sum())} "
      f"test_rows={len(X_test)} rmse={rmse:.2f} target_std={float(np.std(y_test)):.2f}")
