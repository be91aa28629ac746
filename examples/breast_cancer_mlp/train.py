"""Train the breast-cancer MLP (30-16-8-2) with PyTorch and export it with torch.onnx.export.

Data: scikit-learn's breast-cancer set (569 samples, 30 raw features from ~0.05 to ~4000), split
70/30 with a fixed seed. Training standardizes the features ((x - mean) / std, statistics of the
training split); after training the standardization is folded into the first layer
(W' = W / std, b' = b - mean/std . W) so the exported model takes the raw features that
X_test.npy holds. The layers are written as `x @ W + b` with explicit parameters (weights
[in, out], as many exporters emit them), so torch.onnx.export writes MatMul + Add pairs rather
than Gemm: tessera reads both forms. The head gives two logits (no softmax): the ONNX output is
the margin space.

Outputs: model.onnx, X_test.npy / y_test.npy, expected_output.npy (onnxruntime's logits on
X_test), X_calib.npy (128 training samples for calibration).

Run from this folder: python train.py  (versions pinned in requirements.txt; CPU is enough).
"""
import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

SEED = 0
torch.manual_seed(SEED)
torch.use_deterministic_algorithms(True)
X, y = load_breast_cancer(return_X_y=True)
X = X.astype(np.float32)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=SEED, stratify=y)
mean, std = X_tr.mean(0, dtype=np.float64), X_tr.std(0, dtype=np.float64)


class Mlp(torch.nn.Module):
    """Dense layers as `x @ W + b` (weights [in, out]) with ReLU between them."""

    def __init__(self, sizes):
        super().__init__()
        self.w = torch.nn.ParameterList()
        self.b = torch.nn.ParameterList()
        for n_in, n_out in zip(sizes, sizes[1:]):
            lim = 1.0 / np.sqrt(n_in)
            self.w.append(torch.nn.Parameter(torch.empty(n_in, n_out).uniform_(-lim, lim)))
            self.b.append(torch.nn.Parameter(torch.empty(n_out).uniform_(-lim, lim)))

    def forward(self, x):
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            x = x @ w + b
            if i < len(self.w) - 1:
                x = torch.relu(x)
        return x


net = Mlp([30, 16, 8, 2])
xt = torch.from_numpy(((X_tr - mean) / std).astype(np.float32))
yt = torch.from_numpy(y_tr).long()
opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-3)
gen = torch.Generator().manual_seed(SEED)
for epoch in range(40):
    perm = torch.randperm(len(xt), generator=gen)
    for i in range(0, len(xt), 32):
        idx = perm[i:i + 32]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
        opt.step()
net.eval()
with torch.no_grad():
    z = net(torch.from_numpy(((X_te - mean) / std).astype(np.float32)))
    print("torch test accuracy", (z.argmax(1).numpy() == y_te).mean())
    # Fold the standardization into the first layer, in float64 then rounded once.
    w0 = net.w[0].double().numpy()
    w_fold = w0 / std[:, None]
    b_fold = net.b[0].double().numpy() - (mean / std) @ w0
    net.w[0].copy_(torch.from_numpy(w_fold.astype(np.float32)))
    net.b[0].copy_(torch.from_numpy(b_fold.astype(np.float32)))

batch = torch.export.Dim("N")
torch.onnx.export(net, (torch.from_numpy(X_te[:2]),), "model.onnx", input_names=["features"],
                  output_names=["logits"], dynamic_shapes={"x": {0: batch}}, external_data=False)
onnx.checker.check_model(onnx.load("model.onnx"), full_check=True)

sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
expected = sess.run(None, {"features": X_te})[0].astype(np.float32)
assert (expected.argmax(1) == z.argmax(1).numpy()).mean() > 0.99
np.save("X_test.npy", X_te)
np.save("y_test.npy", y_te.astype(np.int64))
np.save("expected_output.npy", expected)
rng = np.random.default_rng(SEED)
np.save("X_calib.npy", X_tr[rng.choice(len(X_tr), 128, replace=False)])
print("onnxruntime test accuracy", (expected.argmax(1) == y_te).mean(), "n_test", len(y_te))
