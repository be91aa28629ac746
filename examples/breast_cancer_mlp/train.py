"""Train the breast-cancer MLP (30-16-8-2) and export it to ONNX with onnxruntime references.

scikit-learn's MLPClassifier trains it on standardized features; the standardization
(x - mean) / std is folded into the first layer (W' = W / std, b' = b - W' . mean) so the model
takes raw features (X_test.npy holds them as scikit-learn ships them, values up to ~4000).
The graph uses the MatMul + Add form (weights [in, out]) that many exporters emit, and ends in
raw logits (no softmax), so the ONNX output is the margin space.

Run from this folder: python train.py  (versions pinned in requirements.txt).
"""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

SEED = 0
X, y = load_breast_cancer(return_X_y=True)
X = X.astype(np.float32)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=SEED, stratify=y)
sc = StandardScaler().fit(X_tr)
# With two classes MLPClassifier has one logistic output z; the export below gives the head two
# logits [0, z], so softmax([0, z]) = [1 - p, p] and the argmax is the classifier's decision z > 0.
clf = MLPClassifier(hidden_layer_sizes=(16, 8), activation="relu", max_iter=2000, random_state=SEED, alpha=1e-3)
clf.fit(sc.transform(X_tr), y_tr)
print("sklearn test accuracy", clf.score(sc.transform(X_te), y_te))

W = [w.astype(np.float64) for w in clf.coefs_]  # [in, out]
B = [b.astype(np.float64) for b in clf.intercepts_]
mean, std = sc.mean_, sc.scale_
W[0], B[0] = W[0] / std[:, None], B[0] - (mean / std) @ W[0]
# Two logits [0, z]: argmax equals the logistic decision z > 0.
W[-1] = np.concatenate([np.zeros_like(W[-1]), W[-1]], axis=1)
B[-1] = np.concatenate([np.zeros_like(B[-1]), B[-1]])

nodes, inits, prev = [], [], "features"
for i, (w, b) in enumerate(zip(W, B)):
    inits += [numpy_helper.from_array(w.astype(np.float32), f"W{i}"), numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
    nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"mm{i}"], name=f"MatMul_{i}"))
    last = i == len(W) - 1
    nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], ["logits" if last else f"z{i}"], name=f"Add_{i}"))
    if not last:
        nodes.append(helper.make_node("Relu", [f"z{i}"], [f"h{i}"], name=f"Relu_{i}"))
        prev = f"h{i}"
graph = helper.make_graph(
    nodes, "breast_cancer_mlp",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 30])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
    inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tessera-examples")
model.ir_version = 7
onnx.checker.check_model(model, full_check=True)
onnx.save(model, "model.onnx")

sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
expected = sess.run(None, {"features": X_te})[0].astype(np.float32)
assert (expected.argmax(1) == clf.predict(sc.transform(X_te))).mean() > 0.99
np.save("X_test.npy", X_te)
np.save("y_test.npy", y_te.astype(np.int64))
np.save("expected_output.npy", expected)
rng = np.random.default_rng(SEED)
np.save("X_calib.npy", X_tr[rng.choice(len(X_tr), 128, replace=False)])
print("onnxruntime test accuracy", (expected.argmax(1) == y_te).mean(), "n_test", len(y_te))
