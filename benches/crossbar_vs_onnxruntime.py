"""Throughput of tessera's bit-exact crossbar simulator next to onnxruntime, same model, same data.

For each example (digits_mlp, breast_cancer_mlp) this script
  * runs `cargo run --release --example bench_crossbar -- examples/NAME/accel.tess SECONDS`,
    which compiles the description once and simulates X_test.npy repeatedly on one thread
    (every inference bit-exact: bit-serial input planes, ADC conversions, shift-add, event
    counting and pricing, as `tessera sim` does);
  * times onnxruntime's `InferenceSession.run` on the same model.onnx and X_test.npy, one
    intra-op thread, two ways: the whole X_test as one batch, and one sample per call;
  * prints samples per second for each and the ratio onnxruntime / tessera.

qonnx_mlp is skipped: onnxruntime cannot run the QONNX `Quant` custom op.
Not part of `cargo test`. Needs numpy and onnxruntime (e.g. /work/venv-torch/bin/python or
`pip install -r benches/requirements-crossbar.txt`). Run from the repository root:

    python benches/crossbar_vs_onnxruntime.py [--seconds 2]
"""
import argparse
import json
import pathlib
import subprocess
import time

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ["digits_mlp", "breast_cancer_mlp"]


def tessera(name, seconds):
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "bench_crossbar", "--",
           str(ROOT / "examples" / name / "accel.tess"), str(seconds)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["per_second"]


def timed(fn, n_per_call, seconds):
    fn()  # warm-up
    start, samples = time.perf_counter(), 0
    while samples == 0 or time.perf_counter() - start < seconds:
        fn()
        samples += n_per_call
    return samples / (time.perf_counter() - start)


def onnxruntime(name, seconds):
    d = ROOT / "examples" / name
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(d / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    x = np.load(d / "X_test.npy").astype(np.float32)
    inp = sess.get_inputs()[0].name
    batch = timed(lambda: sess.run(None, {inp: x}), len(x), seconds)
    rows = [x[i:i + 1] for i in range(len(x))]

    def one_by_one():
        for r in rows:
            sess.run(None, {inp: r})

    single = timed(one_by_one, len(x), seconds)
    return batch, single, len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum timing per measurement")
    args = ap.parse_args()
    print(f"onnxruntime {ort.__version__}, one thread each; samples per second")
    print(f"{'example':<18} {'n':>4} {'tessera sim':>12} {'ort batch':>12} {'ort 1-by-1':>12}"
          f" {'batch/tessera':>14} {'1-by-1/tessera':>15}")
    for name in EXAMPLES:
        t = tessera(name, args.seconds)
        batch, single, n = onnxruntime(name, args.seconds)
        print(f"{name:<18} {n:>4} {t:>12.1f} {batch:>12.1f} {single:>12.1f}"
              f" {batch / t:>14.1f} {single / t:>15.1f}")


if __name__ == "__main__":
    main()
