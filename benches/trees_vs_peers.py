#!/usr/bin/env python3
"""Tree-family benchmark against peers, run on the same data and machine in one script.

For each example it prints:
  * simulator throughput: tessera's bit-exact CAM simulator (all three policies, with event
    counting) vs XGBoost's own `Booster.inplace_predict(predict_type='margin')`, at the same
    thread count (`RAYON_NUM_THREADS` for tessera, `nthread` for XGBoost), per `--threads`;
  * compile time: tessera (model load, cam-pack, cam-quantize, cam-tile, Verilog lowering and
    printing) vs conifer's conversion of the same model (`convert_from_xgboost` + `write`, C++
    backend, no HLS compile).

Usage (from the repository root, peers installed from benches/requirements.txt):
    cargo build --release --example bench_trees
    python3 benches/trees_vs_peers.py [--repeat 5] [--threads 1,2]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

EXAMPLES = [
    ("breast_cancer_xgb", None),
    ("iris_xgb", None),
    ("wide_xgb", "wide_paper"),
]


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def tessera(example, accel, repeat, threads):
    cmd = ["target/release/examples/bench_trees", f"examples/{example}/accel.tess", "--repeat", str(repeat)]
    if accel:
        cmd += ["--accel", accel]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    t = json.loads(out)
    if t["threads"] != threads:
        raise SystemExit(f"bench_trees ran on {t['threads']} threads, asked for {threads}")
    return t


def xgboost_predict(example, repeat, threads):
    bst = xgb.Booster()
    bst.load_model(f"examples/{example}/model.json")
    bst.set_param({"nthread": threads})
    x = np.load(f"examples/{example}/X_test.npy")
    # inplace_predict: XGBoost's fastest predict path, with no prediction cache (predict() on a
    # reused DMatrix returns cached results and would time a lookup, not inference).
    s = best_of(repeat, lambda: bst.inplace_predict(x, predict_type="margin"))
    return x.shape[0] / s


def conifer_convert(example, repeat):
    import conifer

    bst = xgb.Booster()
    bst.load_model(f"examples/{example}/model.json")

    def convert():
        cfg = conifer.backends.cpp.auto_config()
        cfg["OutputDir"] = tempfile.mkdtemp()
        conifer.converters.convert_from_xgboost(bst, cfg).write()

    return best_of(repeat, convert)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    args = ap.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    print(f"{'example':<20}{'threads':>8}{'tessera inf/s':>14}{'xgboost inf/s':>15}{'ratio':>8}"
          f"{'tessera compile s':>19}{'conifer convert s':>19}{'ratio':>8}")
    for example, accel in EXAMPLES:
        cs = conifer_convert(example, args.repeat)
        for threads in thread_counts:
            t = tessera(example, accel, args.repeat, threads)
            xr = xgboost_predict(example, args.repeat, threads)
            print(f"{example:<20}{threads:>8}{t['sim_inferences_per_s']:>14.0f}{xr:>15.0f}"
                  f"{t['sim_inferences_per_s'] / xr:>8.3f}{t['compile_s']:>19.4f}{cs:>19.4f}"
                  f"{cs / t['compile_s']:>8.1f}")
    print("ratio columns: tessera/xgboost throughput (higher is better for tessera); "
          "conifer/tessera time (higher is better for tessera)")


if __name__ == "__main__":
    main()
