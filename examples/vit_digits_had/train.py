"""Train a small vision transformer on 8x8 digits, then a HAD student distilled from it.

Hamming Attention Distillation (HAD, arXiv 2502.01770; tessera papers.md section 1): only Q and
K are binarized, Q_b = sigma_Q * sign(Q) with per-layer scales sigma estimated on calibration
data and frozen; scores become sigma_Q sigma_K (d - 2 HD) / sqrt(d_k). The student starts from
the teacher and is distilled with the staged schedule of papers.md:

  stage 1  scaled tanh   b(q) = c * sigma * tanh(q / (c * sigma)),  c: 5 -> 1   (~identity -> soft sign)
  stage 2  sharp tanh    b(q) = sigma * tanh(q / (c * sigma)),      c: 1 -> 0.05
  stage 3  sign + STE    b(q) = sigma * sign(q), gradient passed where |q / sigma| <= 2
  stage 4  fine-tune     as stage 3 without the attention-map KL term

Losses: KL(teacher || student) on every attention map (rows of the softmax) + KL on the output
distribution + cross-entropy. The stage-1/2 parametrisation (scaled tanh continuous into sharp
tanh at c = 1) is our reading of the summary in papers.md [INF].

Exported (ONNX opset 17, TorchScript exporter, batch fixed to 1 as tessera compiles one sample
at a time):
  teacher.onnx  float ViT: patchify (Reshape/Transpose), Linear embed, cls token, positions,
                2 pre-norm blocks (LayerNormalization, MHSA from MatMul/Transpose/Softmax,
                GELU as erf, residual Adds, MLP), final LayerNorm, cls head. Raw pixels 0..16
                in (the 1/16 input scaling is folded into the embedding), logits out.
  student.onnx  the same graph with Sign -> Mul(sigma) on Q and K (trained HAD model).

References written next to the models (the Rust tests compare tessera against them):
  teacher_logits.npy / student_logits.npy     onnxruntime on X_test
  ptb_logits.npy, ptb_sigma.json               post-training binarization of the teacher (torch),
                                               sigma_Q/sigma_K from X_calib as tessera's binarize
                                               pass defines them (mean over samples of the
                                               population std of Q over the sample's S x d values)
  *_top{N}_logits.npy                          the same models with top-N attention (torch)
  accuracy.json                                every accuracy in the README table

Top-N keeps, per query row, the N largest scores; ties go to the lower key index (a stable
sort), which is also tessera's rule (smallest Hamming distance, then lowest index).

Run from this folder: python train.py  (versions pinned in requirements.txt; ~5 min on 2 CPUs).
"""
import copy
import json
import math

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
torch.manual_seed(SEED)
torch.set_num_threads(2)
D, HEADS, LAYERS, MLP, PATCH = 32, 2, 2, 64, 2
NP = (8 // PATCH) ** 2  # 16 patches
S = NP + 1  # + cls
DH = D // HEADS
TOP_N = 6
CALIB_N = 128

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
rng = np.random.default_rng(SEED)
X_calib = X_tr[rng.choice(len(X_tr), CALIB_N, replace=False)]


class Binarizer:
    """How Q/K pass through the attention: float, or one of the HAD stages."""

    def __init__(self, mode="float", c=1.0):
        self.mode, self.c = mode, c

    def __call__(self, x, sigma):
        if self.mode == "float":
            return x
        if self.mode == "scaled_tanh":
            return self.c * sigma * torch.tanh(x / (self.c * sigma))
        if self.mode == "sharp_tanh":
            return sigma * torch.tanh(x / (self.c * sigma))
        if self.mode == "sign":
            return SignSTE.apply(x / sigma) * sigma
        raise ValueError(self.mode)


class SignSTE(torch.autograd.Function):
    """sign with sign(0) = +1; straight-through gradient clipped to |x| <= 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 2.0).to(g.dtype)


def topn_mask(scores, n):
    """-inf everywhere except the n largest scores per row; ties to the lower index."""
    if n is None or n >= scores.shape[-1]:
        return scores
    order = torch.argsort(-scores, dim=-1, stable=True)[..., :n]
    keep = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, order, True)
    return scores.masked_fill(~keep, float("-inf"))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
        self.register_buffer("sigma_q", torch.ones(()))
        self.register_buffer("sigma_k", torch.ones(()))
        self.binarize = Binarizer()
        self.export_sign = False  # export Q/K as Mul(Sign(q), sigma)
        self.top_n = None
        self.last_attn = None

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        if self.export_sign:
            q = torch.sign(q) * self.sigma_q
            k = torch.sign(k) * self.sigma_k
        else:
            q = self.binarize(q, self.sigma_q)
            k = self.binarize(k, self.sigma_k)
        q = q.reshape(-1, S, HEADS, DH).transpose(1, 2)
        k = k.reshape(-1, S, HEADS, DH).transpose(1, 2)
        v = v.reshape(-1, S, HEADS, DH).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(DH)
        a = torch.softmax(topn_mask(scores, self.top_n), dim=-1)
        self.last_attn = a
        o = (a @ v).transpose(1, 2).reshape(-1, S, D)
        return self.o(o)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = Attention()
        self.fc1, self.fc2 = nn.Linear(D, MLP), nn.Linear(MLP, D)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(PATCH * PATCH, D)
        self.cls = nn.Parameter(torch.zeros(1, 1, D))
        self.pos = nn.Parameter(torch.randn(1, S, D) * 0.02)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, 10)
        self.pixel_scale = 1.0 / 16.0  # folded into `embed` for export

    def patches(self, x):
        g = 8 // PATCH
        x = x.reshape(-1, g, PATCH, g, PATCH).permute(0, 1, 3, 2, 4)
        return x.reshape(-1, NP, PATCH * PATCH)

    def forward(self, x):
        if self.pixel_scale != 1.0:
            x = x * self.pixel_scale
        t = self.embed(self.patches(x))
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1) + self.pos
        for b in self.blocks:
            t = b(t)
        return self.head(self.ln(t)[:, 0])

    def attns(self):
        return [b.attn for b in self.blocks]


Xtr_t, ytr_t = torch.tensor(X_tr), torch.tensor(y_tr)
Xte_t = torch.tensor(X_te)


def accuracy(model, X_, y_):
    model.eval()
    with torch.no_grad():
        return float((model(torch.tensor(X_)).argmax(1).numpy() == y_).mean())


def logits(model, X_):
    model.eval()
    with torch.no_grad():
        return model(torch.tensor(X_)).numpy().astype(np.float32)


def train_teacher(epochs=80):
    m = ViT()
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for ep in range(epochs):
        m.train()
        perm = torch.randperm(len(Xtr_t))
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(m(Xtr_t[idx]), ytr_t[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if ep % 20 == 19:
            print(f"teacher epoch {ep + 1}: test acc {accuracy(m, X_te, y_te):.4f}", flush=True)
    return m


def calibrate_sigma(model, Xc):
    """Per-layer sigma = mean over calibration samples of the population std of Q (resp. K)
    over that sample's S x d values: the definition tessera's `binarize` pass implements."""
    sig = []
    model.eval()
    qs = {i: [] for i in range(LAYERS)}
    ks = {i: [] for i in range(LAYERS)}
    hooks = []
    for i, a in enumerate(model.attns()):
        hooks.append(a.q.register_forward_hook(lambda mod, inp, out, i=i: qs[i].append(out.detach())))
        hooks.append(a.k.register_forward_hook(lambda mod, inp, out, i=i: ks[i].append(out.detach())))
    with torch.no_grad():
        model(torch.tensor(Xc))
    for h in hooks:
        h.remove()
    for i in range(LAYERS):
        q = torch.cat(qs[i]).double()  # [n, S, D]
        k = torch.cat(ks[i]).double()
        sq = q.reshape(q.shape[0], -1).std(dim=1, unbiased=False).mean().item()
        sk = k.reshape(k.shape[0], -1).std(dim=1, unbiased=False).mean().item()
        sig.append((sq, sk))
    return sig


def set_mode(model, mode, c=1.0):
    for a in model.attns():
        a.binarize = Binarizer(mode, c)


def set_top_n(model, n):
    for a in model.attns():
        a.top_n = n


def kl_rows(p_t, p_s):
    """KL(teacher || student) averaged over rows (attention maps or output distributions)."""
    return (p_t * (torch.log(p_t.clamp_min(1e-12)) - torch.log(p_s.clamp_min(1e-12)))).sum(-1).mean()


def distill(teacher, sig):
    student = copy.deepcopy(teacher)
    for a, (sq, sk) in zip(student.attns(), sig):
        a.sigma_q.fill_(sq)
        a.sigma_k.fill_(sk)
    teacher.eval()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-3, weight_decay=0.01)
    stages = [("scaled_tanh", 5.0, 1.0, 20, True), ("sharp_tanh", 1.0, 0.05, 20, True),
              ("sign", None, None, 30, True), ("sign", None, None, 30, False)]
    for name, c0, c1, epochs, attn_kl in stages:
        for ep in range(epochs):
            if c0 is not None:
                # geometric annealing of the temperature from c0 to c1
                c = c0 * (c1 / c0) ** (ep / max(1, epochs - 1))
                set_mode(student, name, c)
            else:
                set_mode(student, name)
            student.train()
            perm = torch.randperm(len(Xtr_t))
            for i in range(0, len(perm), 64):
                idx = perm[i : i + 64]
                xb = Xtr_t[idx]
                with torch.no_grad():
                    t_out = teacher(xb)
                    t_maps = [a.last_attn for a in teacher.attns()]
                s_out = student(xb)
                loss = F.cross_entropy(s_out, ytr_t[idx]) + kl_rows(F.softmax(t_out, -1), F.softmax(s_out, -1))
                if attn_kl:
                    loss = loss + sum(kl_rows(tm, a.last_attn) for tm, a in zip(t_maps, student.attns()))
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(student.parameters(), 2.0)
                opt.step()
        print(f"stage {name}: test acc {accuracy(student, X_te, y_te):.4f}", flush=True)
    set_mode(student, "sign")
    return student


def export(model, path, sign):
    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        m.embed.weight.mul_(m.pixel_scale)  # raw pixels in
    m.pixel_scale = 1.0
    for a in m.attns():
        a.export_sign = sign
        a.top_n = None
        a.binarize = Binarizer("float")
    x = torch.tensor(X_te[:1])
    torch.onnx.export(m, (x,), path, dynamo=False, opset_version=17, input_names=["pixels"],
                      output_names=["logits"], do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def ort_logits(path):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"pixels": X_te[i : i + 1]})[0] for i in range(len(X_te))]).astype(np.float32)


teacher = train_teacher()
sig = calibrate_sigma(teacher, X_calib)
print("sigma (Q, K) per layer:", sig)

results = {}
ptb = copy.deepcopy(teacher)
for a, (sq, sk) in zip(ptb.attns(), sig):
    a.sigma_q.fill_(sq)
    a.sigma_k.fill_(sk)
set_mode(ptb, "sign")
for name, model in [("teacher", teacher), ("ptb", ptb)]:
    for n in [None, TOP_N]:
        set_top_n(model, n)
        key = name if n is None else f"{name}_top{n}"
        results[key] = accuracy(model, X_te, y_te)
        np.save(f"{key}_logits.npy", logits(model, X_te))
    set_top_n(model, None)
print(results, flush=True)

student = distill(teacher, sig)
for n in [None, TOP_N]:
    set_top_n(student, n)
    key = "student" if n is None else f"student_top{n}"
    results[key] = accuracy(student, X_te, y_te)
    np.save(f"{key}_logits.npy", logits(student, X_te))
set_top_n(student, None)

export(teacher, "teacher.onnx", sign=False)
export(student, "student.onnx", sign=True)
t_ort, s_ort = ort_logits("teacher.onnx"), ort_logits("student.onnx")
# onnxruntime must reproduce the torch models (the student's Sign(0) = 0 never occurs here).
assert np.abs(t_ort - np.load("teacher_logits.npy")).max() < 1e-3
assert (s_ort.argmax(1) == np.load("student_logits.npy").argmax(1)).mean() > 0.99
np.save("teacher_logits.npy", t_ort)
np.save("student_logits.npy", s_ort)
np.save("X_test.npy", X_te)
np.save("y_test.npy", y_te.astype(np.int64))
np.save("X_calib.npy", X_calib)
with open("ptb_sigma.json", "w") as f:
    json.dump({"sigma_q": [s[0] for s in sig], "sigma_k": [s[1] for s in sig],
               "student_sigma_q": [float(a.sigma_q) for a in student.attns()],
               "student_sigma_k": [float(a.sigma_k) for a in student.attns()]}, f, indent=2)
results = {k: round(v, 4) for k, v in results.items()}
results["top_n"] = TOP_N
results["n_test"] = len(y_te)
with open("accuracy.json", "w") as f:
    json.dump(results, f, indent=2)
print(json.dumps(results, indent=2))
