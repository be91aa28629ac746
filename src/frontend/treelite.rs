//! Treelite 4.x JSON (`treelite.Model.dump_as_json(pretty_print=False)`).
//!
//! This is how scikit-learn forests reach tessera: `treelite.sklearn.import_model(est)` then
//! `dump_as_json`. The same format carries models Treelite imported from XGBoost or LightGBM.
//!
//! Semantics carried over exactly:
//! - `comparison_op` `<`, `<=`, `>`, `>=`; `>`/`>=` are turned into `<=`/`<` with the children
//!   (and the default side) swapped, so the node ids are unchanged;
//! - `threshold_type: float64` thresholds (scikit-learn, LightGBM) are compared with the float32
//!   input widened to float64, and are replaced by the float32 that decides identically
//!   (`threshold.rs`); `float32` thresholds are parsed straight to float32;
//! - NaN goes to the `default_left` side;
//! - vector leaves (`leaf_vector_shape [1, K]`, e.g. scikit-learn class distributions) are split
//!   into K scalar trees, one per class, in tree order; scalar-leaf trees feed `class_id[t]`;
//! - `average_tree_output` → `Aggregation::Mean` (each output divided by its own tree count),
//!   then `base_scores` added, per output;
//! - node ids are kept, so leaf indices equal Treelite's (and scikit-learn's `apply`) ids.
//!
//! The postprocessor (sigmoid, softmax, ...) is not applied: tessera works in margin space.
//! Categorical splits, multi-target models and `==` comparisons are rejected naming the field.

use std::path::Path;

use super::check::{check_ensemble, check_tree, Side};
use super::error::{FileCtx, FrontendError};
use super::json::{parse_document, Json, Kind, Object};
use super::read_text;
use super::threshold::{f32_at_or_above, f32_at_or_below};
use super::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};

/// Reads a Treelite JSON model file.
pub fn load(path: &Path) -> Result<TreeEnsemble, FrontendError> {
    let ctx = FileCtx::new(path);
    let text = read_text(path, &ctx)?;
    parse_with(&text, &ctx)
}

/// Parses Treelite JSON held in memory; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<TreeEnsemble, FrontendError> {
    let ctx = FileCtx { file: file.into() };
    parse_with(text, &ctx)
}

/// Width of thresholds or leaf values in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    F32,
    F64,
}

fn width(o: &Object, key: &str) -> Result<Width, FrontendError> {
    let f = o.req(key)?;
    match f.as_string()?.as_str() {
        "float32" => Ok(Width::F32),
        "float64" => Ok(Width::F64),
        other => Err(f.invalid(format!("expected \"float32\" or \"float64\", found \"{other}\""))),
    }
}

/// What the model-level fields say about each tree's output.
struct Layout {
    num_outputs: usize,
    /// K > 1 when leaves are class vectors that each tree spreads over all outputs.
    leaf_len: usize,
}

fn parse_with(text: &str, ctx: &FileCtx) -> Result<TreeEnsemble, FrontendError> {
    let root = parse_document(text, ctx)?;
    let m = root.object()?;
    let threshold_width = width(&m, "threshold_type")?;
    let leaf_width = width(&m, "leaf_output_type")?;
    let num_features = m.req("num_feature")?.as_usize()?;
    let task_type = m.req("task_type")?.as_string()?;
    let average = m.req("average_tree_output")?.as_bool()?;
    let num_target_f = m.req("num_target")?;
    let num_target = num_target_f.as_usize()?;
    if num_target != 1 {
        return Err(num_target_f
            .unsupported(format!("multi-target models ({num_target} targets) are not supported")));
    }
    let num_class_f = m.req("num_class")?;
    let num_class = num_class_f.i64_vec()?;
    let num_outputs = match num_class.as_slice() {
        [k] if *k >= 1 => *k as usize,
        _ => return Err(num_class_f.invalid("expected one positive class count (one target)")),
    };
    let shape_f = m.req("leaf_vector_shape")?;
    let shape = shape_f.i64_vec()?;
    let leaf_len = match shape.as_slice() {
        [1, 1] => 1,
        [1, k] if *k as usize == num_outputs => num_outputs,
        _ => {
            return Err(shape_f.invalid(format!(
                "expected [1, 1] or [1, {num_outputs}] (num_class), found {shape:?}"
            )))
        }
    };
    let layout = Layout { num_outputs, leaf_len };
    let postprocessor = m.req("postprocessor")?.as_string()?;
    let base_f = m.req("base_scores")?;
    let base_margin = base_f.f64_vec()?;
    if base_margin.len() != num_outputs {
        return Err(base_f.invalid(format!(
            "has {} values but the model has {num_outputs} output(s)",
            base_margin.len()
        )));
    }

    let trees_f = m.req("trees")?;
    let tree_values = trees_f.array()?;
    let class_f = m.req("class_id")?;
    let class_id = class_f.i64_vec()?;
    let target_f = m.req("target_id")?;
    let target_id = target_f.i64_vec()?;
    for (f, len) in [(&class_f, class_id.len()), (&target_f, target_id.len())] {
        if len != tree_values.len() {
            return Err(
                f.invalid(format!("has {len} entries but there are {} trees", tree_values.len()))
            );
        }
    }

    let mut trees = Vec::new();
    for (t, tv) in tree_values.iter().enumerate() {
        if !(target_id[t] == -1 || target_id[t] == 0) {
            return Err(ctx.invalid(
                format!("{}[{t}]", target_f.path()),
                format!("target {} is out of range: the model has one target", target_id[t]),
            ));
        }
        let class_at = format!("{}[{t}]", class_f.path());
        let c = class_id[t];
        let outputs: Vec<usize> = if layout.leaf_len > 1 {
            if c != -1 {
                return Err(ctx.invalid(
                    class_at,
                    format!("a tree with class-vector leaves must have class_id -1, found {c}"),
                ));
            }
            (0..layout.num_outputs).collect()
        } else if c == -1 && layout.num_outputs == 1 {
            vec![0]
        } else {
            match usize::try_from(c).ok().filter(|c| *c < layout.num_outputs) {
                Some(c) => vec![c],
                None => {
                    return Err(ctx.invalid(
                        class_at,
                        format!(
                            "class {c} is out of range for a scalar-leaf tree: the model has {} class(es)",
                            layout.num_outputs
                        ),
                    ))
                }
            }
        };
        let parsed = parse_tree(tv, num_features, threshold_width, leaf_width, layout.leaf_len)?;
        for (slot, output) in outputs.into_iter().enumerate() {
            let nodes = parsed
                .iter()
                .map(|n| match n {
                    Parsed::Split(s) => s.clone(),
                    Parsed::Leaf(v) => Node::Leaf { value: v[slot] },
                })
                .collect();
            trees.push(Tree { output, nodes });
        }
    }

    let ensemble = TreeEnsemble {
        num_features,
        num_outputs,
        base_margin,
        trees,
        aggregation: if average { Aggregation::Mean } else { Aggregation::Sum },
        objective: format!("{task_type}:{postprocessor}"),
        source: "treelite json".to_string(),
    };
    check_ensemble(ctx, "num_feature", &ensemble)?;
    Ok(ensemble)
}

/// A node before vector leaves are split per class.
enum Parsed {
    Split(Node),
    Leaf(Vec<f64>),
}

fn parse_tree(
    tv: &Json,
    num_features: usize,
    threshold_width: Width,
    leaf_width: Width,
    leaf_len: usize,
) -> Result<Vec<Parsed>, FrontendError> {
    let ctx = tv.ctx();
    let t = tv.object()?;
    let num_nodes_f = t.req("num_nodes")?;
    let num_nodes = num_nodes_f.as_usize()?;
    let nodes_f = t.req("nodes")?;
    let items = nodes_f.array()?;
    if items.len() != num_nodes {
        return Err(
            nodes_f.invalid(format!("has {} nodes but num_nodes is {num_nodes}", items.len()))
        );
    }
    // Nodes are listed in any order and refer to each other by `node_id`.
    let mut slots: Vec<Option<Parsed>> = (0..num_nodes).map(|_| None).collect();
    // Where each node id was defined, for naming child fields in structural errors.
    let mut defined_at: Vec<String> = vec![String::new(); num_nodes];
    // Whether the node's children were swapped (`>`/`>=`), to name the field as written.
    let mut swapped = vec![false; num_nodes];
    for item in &items {
        let o = item.object()?;
        let id_f = o.req("node_id")?;
        let id = id_f.as_usize()?;
        if id >= num_nodes {
            return Err(id_f
                .invalid(format!("node id {id} is out of range: the tree has {num_nodes} nodes")));
        }
        if slots[id].is_some() {
            return Err(id_f.invalid(format!("node id {id} is defined twice")));
        }
        defined_at[id] = item.path().to_string();
        swapped[id] = o
            .opt("comparison_op")
            .and_then(|f| f.as_string().ok())
            .is_some_and(|op| op == ">" || op == ">=");
        slots[id] =
            Some(parse_node(&o, num_nodes, num_features, threshold_width, leaf_width, leaf_len)?);
    }
    let parsed: Vec<Parsed> = slots
        .into_iter()
        .map(|s| s.expect("num_nodes items with distinct ids in range fill every slot"))
        .collect();
    // The structural check works on nodes; vector leaves are checked via their first component.
    let skeleton: Vec<Node> = parsed
        .iter()
        .map(|p| match p {
            Parsed::Split(n) => n.clone(),
            Parsed::Leaf(v) => Node::Leaf { value: v[0] },
        })
        .collect();
    let checked = check_tree(ctx, tv.path(), skeleton.clone(), |i, side| {
        let field = match (side, swapped[i]) {
            (Side::Left, false) | (Side::Right, true) => "left_child",
            _ => "right_child",
        };
        format!("{}.{field}", defined_at[i])
    })?;
    if checked.len() != skeleton.len() {
        return Err(ctx.invalid(
            tv.path(),
            format!(
                "{} node(s) are not reachable from the root (node 0)",
                skeleton.len() - checked.len()
            ),
        ));
    }
    Ok(parsed)
}

fn parse_node(
    o: &Object,
    num_nodes: usize,
    num_features: usize,
    threshold_width: Width,
    leaf_width: Width,
    leaf_len: usize,
) -> Result<Parsed, FrontendError> {
    if let Some(lv) = o.opt("leaf_value") {
        let number = |j: &Json| -> Result<f64, FrontendError> {
            match leaf_width {
                Width::F32 => j.as_f32().map(f64::from),
                Width::F64 => j.as_f64(),
            }
        };
        let values = match lv.kind() {
            Kind::Array => {
                let v: Vec<f64> = match leaf_width {
                    Width::F32 => lv.f32_vec()?.into_iter().map(f64::from).collect(),
                    Width::F64 => lv.f64_vec()?,
                };
                v
            }
            _ => vec![number(&lv)?],
        };
        if values.len() != leaf_len {
            return Err(lv.invalid(format!(
                "has {} value(s) but leaf_vector_shape says {leaf_len}",
                values.len()
            )));
        }
        return Ok(Parsed::Leaf(values));
    }
    let kind_f = o.req("node_type")?;
    match kind_f.as_string()?.as_str() {
        "numerical_test_node" => {}
        "categorical_test_node" => {
            return Err(kind_f.unsupported("categorical splits are not supported"))
        }
        other => return Err(kind_f.invalid(format!("unknown node type \"{other}\""))),
    }
    let feat_f = o.req("split_feature_id")?;
    let feature = feat_f.as_usize()?;
    if feature >= num_features {
        return Err(feat_f.invalid(format!(
            "feature index {feature} is out of range: num_feature is {num_features}"
        )));
    }
    let default_left = o.req("default_left")?.as_bool()?;
    let child = |name: &str| -> Result<u32, FrontendError> {
        let f = o.req(name)?;
        let c = f.as_i64()?;
        usize::try_from(c).ok().filter(|c| *c < num_nodes).map(|c| c as u32).ok_or_else(|| {
            f.invalid(format!("child index {c} is out of range: the tree has {num_nodes} nodes"))
        })
    };
    let left = child("left_child")?;
    let right = child("right_child")?;
    let op_f = o.req("comparison_op")?;
    let op_text = op_f.as_string()?;
    let th_f = o.req("threshold")?;
    // (op after conversion, whether the children swap)
    let (op, swap) = match op_text.as_str() {
        "<" => (SplitOp::Lt, false),
        "<=" => (SplitOp::Le, false),
        // x > t  ⟺  not (x <= t): same test with the children swapped.
        ">" => (SplitOp::Le, true),
        ">=" => (SplitOp::Lt, true),
        other => {
            return Err(op_f.unsupported(format!("comparison `{other}` is not supported")));
        }
    };
    let threshold = match threshold_width {
        Width::F32 => th_f.as_f32()?,
        Width::F64 => {
            let t = th_f.as_f64()?;
            match op {
                SplitOp::Le => f32_at_or_below(t),
                SplitOp::Lt => f32_at_or_above(t),
            }
        }
    };
    let (left, right, missing_left) =
        if swap { (right, left, !default_left) } else { (left, right, default_left) };
    Ok(Parsed::Split(Node::Split {
        feature: feature as u32,
        threshold,
        op,
        left,
        right,
        missing_left,
    }))
}
