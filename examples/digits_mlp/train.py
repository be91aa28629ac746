"""Train the digits MLP (64-64-32-10) and export it to ONNX with onnxruntime reference outputs.

scikit-learn's MLPClassifier trains it (PyTorch's PyPI wheel is a ~4 GB CUDA build; the network
is the same). The ONNX graph is written with onnx.helper rather than skl2onnx, whose export adds
ArgMax/ZipMap/Cast label post-processing that is not part of the model: here the graph is exactly
Gemm(transB=1) -> Relu -> Gemm -> Relu -> Gemm -> Softmax, weights stored [out, in] like a
PyTorch export. Inputs are raw pixel intensities 0..16; the 1/16 scaling is folded into the
first Gemm's weights so X_test.npy holds the data exactly as scikit-learn ships it.

Run from this folder: python train.py  (versions pinned in requirements.txt).
"""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 0
X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)

clf = MLPClassifier(hidden_layer_sizes=(64, 32), activation="relu", max_iter=600, random_state=SEED)
clf.fit(X_tr / 16.0, y_tr)
print("sklearn test accuracy", clf.score(X_te / 16.0, y_te))

weights = [w.T.astype(np.float32) for w in clf.coefs_]  # [out, in]
biases = [b.astype(np.float32) for b in clf.intercepts_]
weights[0] = (weights[0] / 16.0).astype(np.float32)  # fold the input scaling

nodes, inits = [], []
prev = "input"
for i, (w, b) in enumerate(zip(weights, biases)):
    inits += [numpy_helper.from_array(w, f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
    out = f"fc{i}"
    nodes.append(helper.make_node("Gemm", [prev, f"fc{i}.weight", f"fc{i}.bias"], [out], name=f"Gemm_{i}",
                                  alpha=1.0, beta=1.0, transB=1))
    prev = out
    if i < len(weights) - 1:
        nodes.append(helper.make_node("Relu", [prev], [f"relu{i}"], name=f"Relu_{i}"))
        prev = f"relu{i}"
nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], name="Softmax_0", axis=-1))
graph = helper.make_graph(
    nodes, "digits_mlp",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
    inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tessera-examples")
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
onnx.save(model, "model.onnx")

sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
expected = sess.run(None, {"input": X_te})[0].astype(np.float32)
assert (expected.argmax(1) == clf.predict(X_te / 16.0)).mean() > 0.99
np.save("X_test.npy", X_te)
np.save("y_test.npy", y_te.astype(np.int64))
np.save("expected_output.npy", expected)
rng = np.random.default_rng(SEED)
np.save("X_calib.npy", X_tr[rng.choice(len(X_tr), 256, replace=False)])
print("onnxruntime test accuracy", (expected.argmax(1) == y_te).mean(), "n_test", len(y_te))
