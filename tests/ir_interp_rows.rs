//! `interp::trace_rows` (a batch of rows through one graph, weights read once per block of
//! rows) against `interp::trace` row by row and a naive f32 oracle: every value bit for bit,
//! and a row that stops at a non-finite value stops at the same node alone.

use proptest::prelude::*;
use std::ops::ControlFlow;
use tessera::ir::interp;
use tessera::ir::{Graph, NodeId, Op, Tensor};

/// `relu(x @ w1 + b) @ w2` with `x` of `shape` (`[k]` or `[m, k]`).
fn two_layers(shape: &[usize], n1: usize, n2: usize, seed: u32) -> Graph {
    let k = *shape.last().unwrap_or(&1);
    let mut g = Graph::new();
    let x = g
        .add_input(
            "x",
            Tensor::f32(shape.to_vec(), vec![0.0; shape.iter().product()]).unwrap().ty(),
        )
        .unwrap();
    let c = |g: &mut Graph, shape: Vec<usize>, salt: u32| {
        let n: usize = shape.iter().product();
        g.add(Op::Constant(Tensor::f32(shape, values(n, seed ^ salt)).unwrap()), &[]).unwrap()
    };
    let w1 = c(&mut g, vec![k, n1], 1);
    let h = g.add(Op::MatMul, &[x, w1]).unwrap();
    let b = c(&mut g, vec![n1], 2);
    let h = g.add(Op::Add, &[h, b]).unwrap();
    let h = g.add(Op::Relu, &[h]).unwrap();
    let w2 = c(&mut g, vec![n1, n2], 3);
    let y = g.add(Op::MatMul, &[h, w2]).unwrap();
    g.add_output("y", y).unwrap();
    g
}

/// Mixed magnitudes and signs, so sums round and the order of addition shows.
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = u64::from(seed) | 1;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2f32.powi((i % 13) as i32 - 6)
        })
        .collect()
}

/// Every node's value bits as `visit` sees them, stopping at the first non-finite value.
type Seen = Vec<(NodeId, Vec<u32>)>;

fn record(seen: &mut Seen, id: NodeId, v: &Tensor) -> ControlFlow<()> {
    let d = v.floats().unwrap_or_default();
    seen.push((id, d.iter().map(|x| x.to_bits()).collect()));
    if d.iter().all(|x| x.is_finite()) {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn trace_rows_equals_trace_row_by_row(
        m in 0usize..4, k in 1usize..40, n1 in 1usize..30, n2 in 1usize..12,
        rows in 0usize..11, seed in 0u32..1000, blow_up in proptest::option::of(0usize..11),
    ) {
        let shape = if m == 0 { vec![k] } else { vec![m, k] };
        let g = two_layers(&shape, n1, n2, seed);
        let size: usize = shape.iter().product();
        let inputs: Vec<Vec<Tensor>> = (0..rows)
            .map(|r| {
                let mut v = values(size, seed * 31 + r as u32);
                // One row overflows float32 in the first product and must stop there alone.
                if blow_up == Some(r) {
                    v.iter_mut().for_each(|x| *x *= 3e36);
                }
                vec![Tensor::f32(shape.clone(), v).unwrap()]
            })
            .collect();
        let mut batched: Vec<Seen> = vec![Vec::new(); rows];
        let status = interp::trace_rows(&g, &inputs, |r, id, v| record(&mut batched[r], id, v));
        prop_assert!(status.iter().all(Result::is_ok));
        for (r, x) in inputs.iter().enumerate() {
            let mut alone = Seen::new();
            interp::trace(&g, x, |id, v| record(&mut alone, id, v)).unwrap();
            prop_assert_eq!(&batched[r], &alone, "row {}", r);
        }
        // The first product against the naive oracle: f32 sums from 0 in increasing index.
        let first_mm = g.topo_order().into_iter().find(|&id| matches!(g.op(id), Op::MatMul)).unwrap();
        let w1 = match g.op(g.operands(first_mm)[1]) {
            Op::Constant(t) => t.floats().unwrap().to_vec(),
            _ => unreachable!(),
        };
        for (r, x) in inputs.iter().enumerate() {
            let x = x[0].floats().unwrap();
            let want: Vec<u32> = (0..m.max(1))
                .flat_map(|i| {
                    let w1 = &w1;
                    (0..n1).map(move |j| {
                        (0..k).fold(0f32, |s, p| s + x[i * k + p] * w1[p * n1 + j]).to_bits()
                    })
                })
                .collect();
            let got = batched[r].iter().find(|(id, _)| *id == first_mm).map(|s| &s.1);
            prop_assert_eq!(got, Some(&want), "row {}", r);
        }
    }
}

#[test]
fn a_bad_input_fails_its_row_only() {
    let g = two_layers(&[3], 2, 2, 7);
    let good = vec![Tensor::f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap()];
    let wrong = vec![Tensor::f32(vec![4], vec![1.0; 4]).unwrap()];
    let status =
        interp::trace_rows(&g, &[good.clone(), wrong, good], |_, _, _| ControlFlow::Continue(()));
    assert!(status[0].is_ok() && status[2].is_ok());
    assert!(matches!(status[1], Err(interp::InterpError::InputType { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Gemm with transposed operands (`B` stored `[n][k]`, summed along its rows) against the
    /// naive oracle: f32 sums from 0 in increasing index, then `alpha *`.
    #[test]
    fn gemm_transposed_matches_naive_sums(
        m in 1usize..20, k in 1usize..40, n in 1usize..30, seed in 0u32..1000,
        ta in any::<bool>(), tb in any::<bool>(),
    ) {
        let a = values(m * k, seed);
        let b = values(k * n, seed ^ 77);
        let a_shape = if ta { vec![k, m] } else { vec![m, k] };
        let b_shape = if tb { vec![n, k] } else { vec![k, n] };
        let mut g = Graph::new();
        let x = g.add_input("a", Tensor::f32(a_shape.clone(), a.clone()).unwrap().ty()).unwrap();
        let w = g.add(Op::Constant(Tensor::f32(b_shape, b.clone()).unwrap()), &[]).unwrap();
        let y = g
            .add(Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: ta, trans_b: tb }, &[x, w])
            .unwrap();
        g.add_output("y", y).unwrap();
        let got = interp::run(&g, &[Tensor::f32(a_shape, a.clone()).unwrap()]).unwrap();
        let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
        let bt = |p: usize, j: usize| if tb { b[j * k + p] } else { b[p * n + j] };
        let want: Vec<u32> = (0..m)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| (1.0 * (0..k).fold(0f32, |s, p| s + at(i, p) * bt(p, j))).to_bits())
            .collect();
        let got: Vec<u32> = got[0].floats().unwrap().iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// A batch of rows times a constant (`matmul`, batched over the rows), and `gemm` with the
    /// weight stored `[n][k]` (row by row), in both precisions against naive oracles: f32 sums
    /// from `0.0`, or f64 sums of the exact products from `-0.0` rounded once; then Sigmoid in
    /// the same precision. The sizes cross the kernel's tile (16 columns), `k`-chunk (128) and
    /// row-block (32) boundaries.
    #[test]
    fn products_match_naive_sums_in_both_precisions(
        rows in 1usize..70, k in 1usize..300, n in 1usize..40, seed in 0u32..1000,
        gemm in any::<bool>(), wide in any::<bool>(),
    ) {
        use interp::Precision;
        let w = values(k * n, seed ^ 5);
        let mut g = Graph::new();
        let shape = if gemm { vec![1, k] } else { vec![k] };
        let x = g.add_input("x", Tensor::f32(shape.clone(), vec![0.0; k]).unwrap().ty()).unwrap();
        let (w_shape, op) = if gemm {
            (vec![n, k], Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: true })
        } else {
            (vec![k, n], Op::MatMul)
        };
        // `gemm` reads the weight transposed: store it so that both compute x . w[:, j].
        let stored: Vec<f32> = if gemm {
            (0..n * k).map(|q| w[(q % k) * n + q / k]).collect()
        } else {
            w.clone()
        };
        let c = g.add(Op::Constant(Tensor::f32(w_shape, stored).unwrap()), &[]).unwrap();
        let y = g.add(op, &[x, c]).unwrap();
        let s = g.add(Op::Sigmoid, &[y]).unwrap();
        g.add_output("y", y).unwrap();
        g.add_output("s", s).unwrap();
        let xs: Vec<Vec<f32>> = (0..rows).map(|r| values(k, seed * 7 + r as u32)).collect();
        let inputs: Vec<Vec<Tensor>> =
            xs.iter().map(|x| vec![Tensor::f32(shape.clone(), x.clone()).unwrap()]).collect();
        let precision = if wide { Precision::WideSums } else { Precision::F32 };
        let mut got: Vec<[Vec<u32>; 2]> = vec![Default::default(); rows];
        let status = interp::trace_rows_with(&g, &inputs, precision, |r, id, v| {
            let bits = v.floats().unwrap().iter().map(|v| v.to_bits()).collect();
            if id == y {
                got[r][0] = bits;
            } else if id == s {
                got[r][1] = bits;
            }
            ControlFlow::Continue(())
        });
        prop_assert!(status.iter().all(Result::is_ok), "{status:?}");
        for (x, got) in xs.iter().zip(got) {
            let dot = |j: usize| -> f32 {
                if wide {
                    (0..k).fold(-0f64, |s, p| s + f64::from(x[p]) * f64::from(w[p * n + j])) as f32
                } else {
                    (0..k).fold(0f32, |s, p| s + x[p] * w[p * n + j])
                }
            };
            let want: Vec<f32> = (0..n).map(dot).collect();
            let sig: Vec<u32> = want
                .iter()
                .map(|&v| {
                    if wide {
                        ((1.0 / (1.0 + (-f64::from(v)).exp())) as f32).to_bits()
                    } else {
                        (1.0 / (1.0 + (-v).exp())).to_bits()
                    }
                })
                .collect();
            prop_assert_eq!(&got[0], &want.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(&got[1], &sig);
        }
    }
}
