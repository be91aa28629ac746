"""Crossbar scale benchmark (issue 18): 64-h-h-10 MLPs on the digits accelerator, h = 64 ... 4096.

For each hidden width h this script
  * writes a 64-h-h-10 ReLU MLP with seeded random (He-scaled) weights as ONNX, built with the
    `onnx` helper (no torch needed), plus X_calib.npy (200 rows) and X_test.npy (1,000 rows) of
    digits-like features in [0, 16], and a copy of examples/digits_mlp/accel.tess
    (128x128 RRAM arrays, 1-bit cells, 8-bit weights and activations, differential, 4-bit ADCs
    calibrated at the 99.9th percentile);
  * times `tessera compile` (quantize, tile, program, RTL and memory images) under
    `/usr/bin/time -v`: wall seconds and peak resident memory;
  * runs `bench_crossbar` (the example binary) for steady-state `sim` rows per second on
    X_test, one thread, every row bit-exact with event counting and pricing;
  * times onnxruntime on the same model.onnx and X_test, one intra-op thread, the whole batch
    in one call and one row per call;
  * does the last two `--rounds` times (default 3), alternated, and reports each rate's
    median, and the sim/1-row ratio of every round (lowest..highest);
  * prints one table row per h: weights, build s, compile peak MB, bytes per weight, the
    peak MB of the sim run (`bench_crossbar`: quantize, tile, program, simulate; no RTL), sim
    rows/s, ort batched rows/s, ort one-row rows/s, the two ratios, and the rounds' sim/1-row
    range.

Runs with a memory cap (`--mem-gb`, default 6) and a time cap (`--timeout`, default 300 s) per
command so that a design too large for the machine is reported, not swapped. Needs
`pip install -r benches/requirements-scale.txt`. Build first:

    cargo build --release --bin tessera --example bench_crossbar
    python benches/crossbar_scale.py [--hidden 64 256 1024 4096] [--seconds 2]
"""
import argparse
import json
import os
import pathlib
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"


def make_model(d, h, device="", seed=0):
    rng = np.random.default_rng(seed + h)
    sizes = [64, h, h, 10]
    inits, nodes, cur = [], [], "x"
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        b = (rng.standard_normal(n_out) * 0.05).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        out = "y" if k == len(sizes) - 2 else f"z{k}"
        nodes.append(helper.make_node("Gemm", [cur, f"w{k}", f"b{k}"], [out], transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [out], [f"a{k}"]))
            cur = f"a{k}"
    graph = helper.make_graph(
        nodes, f"mlp_64_{h}_{h}_10",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, d / "model.onnx")
    np.save(d / "X_calib.npy", rng.integers(0, 17, (200, 64)).astype(np.float32))
    np.save(d / "X_test.npy", rng.integers(0, 17, (1000, 64)).astype(np.float32))
    tess = (ROOT / "examples" / "digits_mlp" / "accel.tess").read_text()
    inst = "inst xbar = crossbar::rram_1t1r();"
    assert inst in tess, "examples/digits_mlp/accel.tess no longer declares its instance as expected"
    (d / "accel.tess").write_text(tess.replace(inst, f"inst xbar = crossbar::rram_1t1r({device});"))
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


def capped(mem_gb):
    def f():
        lim = int(mem_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    return f


def timed_run(cmd, mem_gb, timeout):
    """(wall seconds, peak RSS MB, stdout) or (None, None, reason)."""
    full = ["/usr/bin/time", "-v"] + cmd
    start = time.perf_counter()
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=capped(mem_gb))
    except subprocess.TimeoutExpired:
        return None, None, f"killed after {timeout} s"
    wall = time.perf_counter() - start
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) / 1024 if m else float("nan")
    if p.returncode != 0:
        return None, rss, f"failed (rc {p.returncode}, peak {rss:.0f} MB)"
    return wall, rss, p.stdout


def ort_rates(d, seconds):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(d / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    x = np.load(d / "X_test.npy")

    def rate(fn, n):
        fn()
        start, done = time.perf_counter(), 0
        while done == 0 or time.perf_counter() - start < seconds:
            fn()
            done += n
        return done / (time.perf_counter() - start)

    batch = rate(lambda: sess.run(None, {"x": x}), len(x))
    rows = [x[i:i + 1] for i in range(len(x))]
    single = rate(lambda: [sess.run(None, {"x": r}) for r in rows], len(x))
    return batch, single


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 256, 1024, 4096])
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum timing per rate")
    ap.add_argument("--rounds", type=int, default=3,
                    help="simulator and onnxruntime runs, alternated; medians are reported")
    ap.add_argument("--mem-gb", type=float, default=6.0, help="address-space cap per command")
    ap.add_argument("--timeout", type=float, default=300.0, help="time cap per command (s)")
    ap.add_argument("--keep", type=pathlib.Path, help="write the models here instead of a temp dir")
    ap.add_argument("--device", default="",
                    help="instance arguments, e.g. 'd2d_sigma = 0.05, p_stuck_off = 0.01'")
    args = ap.parse_args()
    tessera = str(TARGET / "tessera")
    bench = str(TARGET / "examples" / "bench_crossbar")
    print(f"onnxruntime {ort.__version__}, one thread each; rates in rows per second; "
          f"device: rram_1t1r({args.device})")
    print("dB/w: compile peak bytes per weight beyond the first row's (the fixed overhead)")
    head = (f"{'h':>5} {'weights':>10} {'build s':>8} {'peak MB':>8} {'B/weight':>9} {'dB/w':>6} "
            f"{'sim MB':>7} {'sim rows/s':>11} {'ort batch':>10} {'ort 1-row':>10} {'sim/batch':>10} "
            f"{'sim/1-row':>10} {'1-row, each round':>17}")
    print(head)
    root = args.keep or pathlib.Path(tempfile.mkdtemp(prefix="xbar-scale-"))
    try:
        rows(args, root, tessera, bench)
    finally:
        # The RTL and memory images take most of a gigabyte at h = 4096.
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def rows(args, root, tessera, bench):
    """One table row per hidden width, models and compiles under `root`."""
    first = None  # (weights, compile peak MB) of the first row
    for h in args.hidden:
        d = root / f"h{h}"
        d.mkdir(parents=True, exist_ok=True)
        weights = make_model(d, h, args.device)
        wall, rss, out = timed_run([tessera, "compile", str(d / "accel.tess"), "-o", str(d / "rtl")],
                                   args.mem_gb, args.timeout)
        if wall is None:
            print(f"{h:>5} {weights:>10} compile {out}", flush=True)
            continue
        # Rounds alternate the simulator and onnxruntime, so a machine whose speed drifts
        # (a shared host) slows both alike; the table takes each rate's median.
        sims, batches, singles, sim_rss = [], [], [], 0.0
        for _ in range(args.rounds):
            _, peak, out = timed_run([bench, str(d / "accel.tess"), str(args.seconds)],
                                     args.mem_gb, args.timeout)
            try:
                sims.append(json.loads(out.strip().splitlines()[-1])["per_second"])
            except (ValueError, IndexError, KeyError):
                break
            sim_rss = max(sim_rss, peak)
            batch, single = ort_rates(d, args.seconds)
            batches.append(batch)
            singles.append(single)
        if len(sims) < args.rounds:
            print(f"{h:>5} {weights:>10} {wall:>8.2f} {rss:>8.0f} sim {out}", flush=True)
            continue
        sim, batch, single = (statistics.median(v) for v in (sims, batches, singles))
        each = sorted(s / o for s, o in zip(sims, singles))
        first = first or (weights, rss)
        marginal = (rss - first[1]) * 2**20 / (weights - first[0]) if weights > first[0] else 0.0
        print(f"{h:>5} {weights:>10} {wall:>8.2f} {rss:>8.0f} {rss * 2**20 / weights:>9.0f} "
              f"{marginal:>6.1f} {sim_rss:>7.0f} "
              f"{sim:>11.1f} {batch:>10.0f} {single:>10.0f} {sim / batch:>10.5f} {sim / single:>10.4f} "
              f"{each[0]:>6.3f}..{each[-1]:.3f}",
              flush=True)


if __name__ == "__main__":
    main()
