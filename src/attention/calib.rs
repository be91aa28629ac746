//! Calibration: running the float graph on sample inputs to observe intermediate values.
//!
//! HAD's scales (papers.md section 1): `sigma_Q = mean_b std(Q^(b))`, frozen afterwards. Here
//! one calibration batch is one sample: `std` is the population standard deviation of that
//! sample's `S x d` query values (per head: its `S x d_k` values), and `sigma` the mean over
//! the calibration samples. `examples/vit_digits_had/train.py` computes the same statistic in
//! PyTorch, which is how the pass is checked.

use super::error::AttnError;
use super::ir::MhaOp;
use crate::ir::{interp, Graph, NodeId, Tensor};
use crate::passes::Unmet;
use ndarray::Array2;

/// Evaluates `g` on every calibration row and calls `visit(k, sample, value)` with the value
/// of `nodes[k]` (the graph's single input takes one row; its element count must match).
pub fn probe(
    g: &Graph,
    calib: &Array2<f32>,
    nodes: &[NodeId],
    mut visit: impl FnMut(usize, usize, &Tensor) -> Result<(), AttnError>,
) -> Result<(), AttnError> {
    let [input] = g.inputs() else {
        return Err(AttnError::Calibration(format!(
            "the graph has {} inputs; calibration needs one",
            g.inputs().len()
        )));
    };
    let ty = g.ty(*input).clone();
    if calib.ncols() != ty.numel() {
        return Err(AttnError::Calibration(format!(
            "calibration rows have {} values, the model input {ty} needs {}",
            calib.ncols(),
            ty.numel()
        )));
    }
    if calib.nrows() == 0 {
        return Err(AttnError::Calibration("the calibration data has no rows".into()));
    }
    let mut pg = g.clone();
    for (k, &n) in nodes.iter().enumerate() {
        pg.add_output(&format!("__probe{k}"), n)
            .map_err(|e| AttnError::Calibration(e.to_string()))?;
    }
    let first = g.outputs().len();
    for (s, row) in calib.rows().into_iter().enumerate() {
        let x = Tensor::f32(ty.shape.clone(), row.to_vec())
            .map_err(|e| AttnError::Calibration(e.to_string()))?;
        let outs = interp::run(&pg, &[x])
            .map_err(|e| AttnError::Calibration(format!("sample {s}: {e}")))?;
        for (k, t) in outs[first..].iter().enumerate() {
            visit(k, s, t)?;
        }
    }
    Ok(())
}

/// Population standard deviation of `xs` (in f64).
pub fn pop_std(xs: impl Iterator<Item = f32> + Clone) -> f64 {
    let n = xs.clone().count().max(1) as f64;
    let mean = xs.clone().map(f64::from).sum::<f64>() / n;
    (xs.map(|x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// HAD scales of one attention op from its input token matrices: one (sigma_q, sigma_k) per
/// layer, or per head with `per_head`.
pub fn had_sigmas(m: &MhaOp, inputs: &[Vec<f32>], per_head: bool) -> (Vec<f32>, Vec<f32>) {
    let d = m.d_model();
    let groups = if per_head { m.heads } else { 1 };
    let width = m.heads * m.d_k / groups;
    let mut sq = vec![0f64; groups];
    let mut sk = vec![0f64; groups];
    for x in inputs {
        let s = x.len() / d.max(1);
        let q: Vec<Vec<f32>> = (0..s).map(|t| m.q.apply_row(&x[t * d..(t + 1) * d])).collect();
        let k: Vec<Vec<f32>> = (0..s).map(|t| m.k.apply_row(&x[t * d..(t + 1) * d])).collect();
        for gi in 0..groups {
            let cols = gi * width..(gi + 1) * width;
            sq[gi] += pop_std(q.iter().flat_map(|r| r[cols.clone()].iter().copied()));
            sk[gi] += pop_std(k.iter().flat_map(|r| r[cols.clone()].iter().copied()));
        }
    }
    let n = inputs.len().max(1) as f64;
    (sq.iter().map(|v| (v / n) as f32).collect(), sk.iter().map(|v| (v / n) as f32).collect())
}

/// The `mha` nodes of a graph in topological order.
pub fn mha_nodes(g: &Graph) -> Vec<NodeId> {
    g.topo_order()
        .into_iter()
        .filter(|&n| g.op(n).dialect::<crate::attention::ir::MhaOp>().is_some())
        .collect()
}

/// The precondition of every attention pass: the graph has an `mha` node to work on.
pub fn require_mha(g: &Graph) -> Result<(), Unmet> {
    if mha_nodes(g).is_empty() {
        return Err(Unmet::missing("`attn.mha` node", "attn-recognize"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_std_by_hand() {
        // [1, 3]: mean 2, deviations +-1, population variance 1.
        assert_eq!(pop_std([1.0f32, 3.0].into_iter()), 1.0);
        // [2, 4, 4, 4, 5, 5, 7, 9]: the textbook example with population std 2.
        assert_eq!(pop_std([2.0f32, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].into_iter()), 2.0);
    }
}
