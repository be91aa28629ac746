#!/usr/bin/env python3
"""Tree-family benchmark against peers, run on the same data and machine in one script.

For each example it prints:
  * simulator throughput: tessera's bit-exact CAM simulator (all three policies, with event
    counting, one thread) vs XGBoost's own `Booster.inplace_predict(predict_type='margin')`, one thread;
  * compile time: tessera (model load, cam-pack, cam-quantize, cam-tile, Verilog lowering and
    printing) vs conifer's conversion of the same model (`convert_from_xgboost` + `write`, C++
    backend, no HLS compile).

Usage (from the repository root, peers installed from benches/requirements.txt):
    cargo build --release --example bench_trees
    python3 benches/trees_vs_peers.py [--repeat 5]
"""
import argparse
import json
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


def tessera(example, accel, repeat):
    cmd = ["target/release/examples/bench_trees", f"examples/{example}/accel.tess", "--repeat", str(repeat)]
    if accel:
        cmd += ["--accel", accel]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def xgboost_predict(example, repeat):
    bst = xgb.Booster()
    bst.load_model(f"examples/{example}/model.json")
    bst.set_param({"nthread": 1})
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
    args = ap.parse_args()
    print(f"{'example':<20}{'tessera inf/s':>14}{'xgboost inf/s':>15}{'ratio':>8}"
          f"{'tessera compile s':>19}{'conifer convert s':>19}{'ratio':>8}")
    for example, accel in EXAMPLES:
        t = tessera(example, accel, args.repeat)
        xr = xgboost_predict(example, args.repeat)
        cs = conifer_convert(example, args.repeat)
        print(f"{example:<20}{t['sim_inferences_per_s']:>14.0f}{xr:>15.0f}"
              f"{t['sim_inferences_per_s'] / xr:>8.3f}{t['compile_s']:>19.4f}{cs:>19.4f}"
              f"{cs / t['compile_s']:>8.1f}")
    print("ratio columns: tessera/xgboost throughput (higher is better for tessera); "
          "conifer/tessera time (higher is better for tessera)")


if __name__ == "__main__":
    main()
