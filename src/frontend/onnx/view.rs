//! A read-only view of an [`OnnxModel`] for the importer: constants (with the `Identity`
//! aliases exporters add) and index maps of data-movement chains.
//!
//! An index map is computed by running the chain's own operators (through the ONNX float
//! reference) on a tensor holding `0, 1, 2, ...`: whatever mix of Reshape, Transpose, Slice,
//! Gather, Split or Squeeze an exporter chose, the result says where every output element comes
//! from. Indices stay exact in `f32` below 2^24 elements, which is checked.

use super::model::{Node, OnnxModel, Op};
use super::ops_ext::{ExtOp, Value};
use super::Tensor;
use std::collections::{BTreeMap, HashMap};

/// Largest tensor whose element indices are exact in `f32`.
const MAX_INDEXED: usize = 1 << 24;

pub struct View<'m> {
    pub m: &'m OnnxModel,
    /// `Identity` outputs whose input is a constant (exporters dedupe equal initializers so).
    aliases: HashMap<&'m str, &'m Tensor>,
}

impl<'m> View<'m> {
    pub fn new(m: &'m OnnxModel) -> Self {
        let mut aliases: HashMap<&str, &Tensor> = HashMap::new();
        for n in &m.nodes {
            if n.op == Op::Identity {
                let src = m
                    .constants
                    .get(&n.inputs[0])
                    .or_else(|| aliases.get(n.inputs[0].as_str()).copied());
                if let Some(t) = src {
                    aliases.insert(n.outputs[0].as_str(), t);
                }
            }
        }
        View { m, aliases }
    }

    /// Whether node `i` only renames a constant.
    pub fn is_const_alias(&self, i: usize) -> bool {
        self.m.nodes[i].outputs.first().is_some_and(|o| self.aliases.contains_key(o.as_str()))
    }

    pub fn node(&self, i: usize) -> &'m Node {
        &self.m.nodes[i]
    }

    pub fn constant(&self, v: &str) -> Option<&'m Tensor> {
        self.m.constants.get(v).or_else(|| self.aliases.get(v).copied())
    }

    pub fn shape(&self, v: &str) -> &'m [usize] {
        self.m.shapes.get(v).map_or(&[], Vec::as_slice)
    }

    /// Whether node `i` only moves data (its first input is the data).
    pub fn is_movement(&self, i: usize) -> bool {
        matches!(self.m.nodes[i].op, Op::Reshape { .. } | Op::Flatten { .. } | Op::Identity)
            || matches!(
                &self.m.nodes[i].op,
                Op::Ext(
                    ExtOp::Transpose { .. }
                        | ExtOp::Slice
                        | ExtOp::Gather { .. }
                        | ExtOp::Split { .. }
                        | ExtOp::Unsqueeze { .. }
                        | ExtOp::Squeeze { .. }
                        | ExtOp::Expand
                )
            ) && self.m.nodes[i].inputs[1..]
                .iter()
                .all(|x| x.is_empty() || self.constant(x).is_some())
    }

    /// Runs movement nodes `chain` (each with the position of the output followed) forward from
    /// `base` on an index tensor and returns the flat source index of every element at the end.
    /// Element-wise nodes between them (a Sign, a scale) do not move data and are not listed;
    /// each movement node reads the running index tensor in place of its data input.
    pub(super) fn index_map(&self, base: &str, chain: &[(usize, usize)]) -> Result<Value, String> {
        let shape = self.shape(base).to_vec();
        let n: usize = shape.iter().product();
        if n >= MAX_INDEXED {
            return Err(format!("`{base}` has {n} elements, too many to index exactly"));
        }
        let mut cur = Value { shape, data: (0..n).map(|i| i as f32).collect() };
        for &(i, out) in chain {
            let node = &self.m.nodes[i];
            if matches!(node.op, Op::Identity) {
                continue;
            }
            let mut vals: BTreeMap<String, Value> = BTreeMap::new();
            vals.insert(node.inputs[0].clone(), cur.clone());
            for x in node.inputs.iter().skip(1).filter(|x| !x.is_empty()) {
                if let Some(t) = self.constant(x) {
                    vals.insert(x.clone(), Value { shape: t.shape.clone(), data: t.to_f32() });
                }
            }
            let outs = move_node(self.m, node, &vals)?;
            cur = outs.into_iter().nth(out).ok_or("missing output")?;
        }
        Ok(cur)
    }
}

/// Runs one data-movement node on the values given (its data input and constant operands):
/// one value per node output. Only for index maps; the model's float semantics are the IR's
/// (`crate::ir::interp` over the imported graph).
fn move_node(
    m: &OnnxModel,
    n: &Node,
    vals: &BTreeMap<String, Value>,
) -> Result<Vec<Value>, String> {
    let args: Vec<Option<&Value>> =
        n.inputs.iter().map(|s| if s.is_empty() { None } else { vals.get(s) }).collect();
    let shapes: Vec<Vec<usize>> =
        n.outputs.iter().map(|o| m.shapes.get(o).cloned().unwrap_or_default()).collect();
    match &n.op {
        Op::Reshape { .. } | Op::Flatten { .. } | Op::Identity => {
            let x = args.first().copied().flatten().ok_or("input 0 missing")?;
            Ok(vec![Value {
                shape: shapes.first().cloned().unwrap_or_default(),
                data: x.data.clone(),
            }])
        }
        Op::Ext(e) => super::ops_ext::eval(e, n, &args, &shapes, &m.constants)
            .map_err(|msg| format!("node `{}` ({}): {msg}", n.name, e.op_type())),
        other => Err(format!("node `{}` ({}) does not move data", n.name, other.op_type())),
    }
}

/// Drops a leading batch dimension of 1: tessera's IR works on one sample.
pub fn strip(shape: &[usize]) -> Vec<usize> {
    if shape.len() >= 2 && shape[0] == 1 {
        shape[1..].to_vec()
    } else {
        shape.to_vec()
    }
}

/// Converts an index-map value to the `u32` map an IR `gather` carries.
pub fn to_map(v: &Value) -> Vec<u32> {
    v.data.iter().map(|&x| x as u32).collect()
}
