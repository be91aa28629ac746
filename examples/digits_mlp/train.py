"""Train the digits MLP (64-64-32-10) with PyTorch and export it with torch.onnx.export.

Data: the 8x8 handwritten digits that ship with scikit-learn (1797 samples), split 75/25 with
a fixed seed. The network is a plain torch.nn.Sequential of Linear/ReLU layers trained with Adam
on inputs scaled by 1/16; after training the 1/16 scaling is folded into the first Linear layer
(W0 <- W0 / 16) so the exported model takes the raw pixel intensities 0..16 that X_test.npy
holds, and a Softmax is appended for export. torch.onnx.export (the default torch.export-based
exporter, which needs onnxscript) writes Gemm -> Relu -> Gemm -> Relu -> Gemm -> Softmax, opset
20, with a dynamic batch dimension.

Outputs: model.onnx, X_test.npy / y_test.npy (held-out samples and labels), expected_output.npy
(onnxruntime's output on X_test), X_calib.npy (256 training samples for calibration).

Run from this folder: python train.py  (versions pinned in requirements.txt; CPU is enough).
"""
import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
torch.manual_seed(SEED)
torch.use_deterministic_algorithms(True)
X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)

net = torch.nn.Sequential(
    torch.nn.Linear(64, 64), torch.nn.ReLU(),
    torch.nn.Linear(64, 32), torch.nn.ReLU(),
    torch.nn.Linear(32, 10),
)
xt, yt = torch.from_numpy(X_tr / 16.0), torch.from_numpy(y_tr).long()
opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
gen = torch.Generator().manual_seed(SEED)
for epoch in range(120):
    perm = torch.randperm(len(xt), generator=gen)
    for i in range(0, len(xt), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
net.eval()
with torch.no_grad():
    acc = (net(torch.from_numpy(X_te / 16.0)).argmax(1).numpy() == y_te).mean()
    print("torch test accuracy", acc)
    net[0].weight /= 16.0  # fold the input scaling: the model takes raw intensities 0..16


class Exported(torch.nn.Module):
    """The trained layers followed by a softmax over the classes."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers

    def forward(self, x):
        return torch.softmax(self.layers(x), dim=-1)


model = Exported(net).eval()
batch = torch.export.Dim("batch")
torch.onnx.export(model, (torch.from_numpy(X_te[:2]),), "model.onnx", input_names=["input"],
                  output_names=["probabilities"], dynamic_shapes={"x": {0: batch}}, external_data=False)
onnx.checker.check_model(onnx.load("model.onnx"), full_check=True)

sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
expected = sess.run(None, {"input": X_te})[0].astype(np.float32)
with torch.no_grad():
    torch_out = model(torch.from_numpy(X_te)).numpy()
assert np.abs(expected - torch_out).max() < 1e-5
np.save("X_test.npy", X_te)
np.save("y_test.npy", y_te.astype(np.int64))
np.save("expected_output.npy", expected)
rng = np.random.default_rng(SEED)
np.save("X_calib.npy", X_tr[rng.choice(len(X_tr), 256, replace=False)])
print("onnxruntime test accuracy", (expected.argmax(1) == y_te).mean(), "n_test", len(y_te))
