"""A QONNX-quantized digits MLP (64-48-24-10): 4-bit per-channel weights, 8-bit activations.

The network is trained in float by scikit-learn's MLPClassifier (no Brevitas, no PyTorch), then
quantized post-training into QONNX form: every weight tensor goes through a `Quant` node
(domain qonnx.custom_op.general, signed, narrow, per-output-channel scale = max|w| / 7, 4 bits)
and every layer input through an 8-bit unsigned `Quant` whose scale is calibrated as the maximum
over the training set / 255. The reference outputs are computed by qonnx's own executor
(qonnx.core.onnx_exec.execute_onnx), which implements `Quant` exactly as the QONNX spec says;
onnxruntime cannot run the custom op.

Run from this folder: python train.py  (versions pinned in requirements.txt).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 0
W_BITS, A_BITS = 4, 8
X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
clf = MLPClassifier(hidden_layer_sizes=(48, 24), activation="relu", max_iter=800, random_state=SEED)
clf.fit(X_tr, y_tr)
print("float sklearn test accuracy", clf.score(X_te, y_te))

weights = [w.T.astype(np.float32) for w in clf.coefs_]  # [out, in]
biases = [b.astype(np.float32) for b in clf.intercepts_]

# Activation scales: max of each layer input over the training set / (2^8 - 1).
acts, h = [], X_tr.astype(np.float64)
for i, (w, b) in enumerate(zip(weights, biases)):
    acts.append(np.float32(h.max() / (2**A_BITS - 1)))
    h = h @ w.T.astype(np.float64) + b
    if i < len(weights) - 1:
        h = np.maximum(h, 0)

def const(name, value):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)

nodes, inits, prev = [], [], "input"
for i, (w, b) in enumerate(zip(weights, biases)):
    qmax = 2 ** (W_BITS - 1) - 1
    w_scale = (np.abs(w).max(axis=1, keepdims=True) / qmax).astype(np.float32)
    inits += [const(f"fc{i}.weight", w), const(f"fc{i}.bias", b), const(f"fc{i}.w_scale", w_scale),
              const(f"fc{i}.a_scale", acts[i]), const("zero", 0.0), const("w_bits", W_BITS), const("a_bits", A_BITS)]
    nodes.append(helper.make_node("Quant", [prev, f"fc{i}.a_scale", "zero", "a_bits"], [f"fc{i}.in_q"],
                                  name=f"Quant_act{i}", domain="qonnx.custom_op.general",
                                  signed=0, narrow=0, rounding_mode="ROUND"))
    nodes.append(helper.make_node("Quant", [f"fc{i}.weight", f"fc{i}.w_scale", "zero", "w_bits"], [f"fc{i}.w_q"],
                                  name=f"Quant_w{i}", domain="qonnx.custom_op.general",
                                  signed=1, narrow=1, rounding_mode="ROUND"))
    out = f"fc{i}" if i < len(weights) - 1 else "logits"
    nodes.append(helper.make_node("Gemm", [f"fc{i}.in_q", f"fc{i}.w_q", f"fc{i}.bias"], [out], name=f"Gemm_{i}", transB=1))
    prev = out
    if i < len(weights) - 1:
        nodes.append(helper.make_node("Relu", [out], [f"relu{i}"], name=f"Relu_{i}"))
        prev = f"relu{i}"
# Deduplicate the shared scalar initializers.
seen, uniq = set(), []
for t in inits:
    if t.name not in seen:
        seen.add(t.name)
        uniq.append(t)
graph = helper.make_graph(
    nodes, "qonnx_mlp",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 64])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
    uniq)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)],
                          producer_name="tessera-examples")
model.ir_version = 8
onnx.save(model, "model.onnx")

mw = ModelWrapper("model.onnx").transform(InferShapes())  # annotate intermediate shapes for the executor
expected = np.stack([execute_onnx(mw, {"input": x[None, :]})["logits"][0] for x in X_te]).astype(np.float32)
np.save("X_test.npy", X_te)
np.save("y_test.npy", y_te.astype(np.int64))
np.save("expected_output.npy", expected)
rng = np.random.default_rng(SEED)
np.save("X_calib.npy", X_tr[rng.choice(len(X_tr), 256, replace=False)])
print("qonnx test accuracy", (expected.argmax(1) == y_te).mean(), "n_test", len(y_te),
      "agreement with float", (expected.argmax(1) == clf.predict(X_te)).mean())
