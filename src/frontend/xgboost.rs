//! XGBoost JSON models (`Booster.save_model("m.json")`, XGBoost 1.x to 3.x).
//!
//! Semantics carried over exactly:
//! - a split sends `x` left when `x < split_condition` (strict), NaN goes to `default_left`;
//! - thresholds and leaf values are float32 in XGBoost and are parsed straight from their
//!   decimal text to float32 (see `json.rs`), so every split decides as XGBoost's does;
//! - a leaf's value is its `split_conditions` entry (learning rate already applied);
//! - `base_score` is stored in output space (a probability for `binary:logistic`) and is
//!   turned into margin space with the objective's link, in float32 as XGBoost computes it;
//!   XGBoost 3 writes it as a string holding a vector (`"[6.274165E-1]"`, one value per class
//!   for multi-class), XGBoost 1.x/2.x as a scalar string (`"5E-1"`);
//! - multi-class models hold one tree per class per round; `tree_info[i]` is tree i's class;
//! - DART models scale each tree by `weight_drop[i]` at prediction time; the scaled leaf is
//!   computed in float32, as XGBoost does.
//!
//! - after early stopping (`learner.attributes.best_iteration`, written by the scikit-learn
//!   wrapper) only the rounds up to the best one are used, as `XGBClassifier.predict` /
//!   `XGBRegressor.predict` do (`iteration_range = (0, best_iteration + 1)`); the file keeps the
//!   later trees, and a note says how many trees are used;
//! - margins are what tessera computes, so `binary:logitraw` and `binary:hinge` are plain
//!   margins (their `predict` is the sigmoid-free margin and its sign as 0/1);
//!   `reg:quantileerror` with several `quantile_alpha`s has one output per alpha.
//!
//! Categorical splits, vector-leaf trees, other multi-target models and `gblinear` are rejected
//! with the field that shows them. The UBJSON format is not read.

use std::path::Path;

use super::check::{check_tree, Side};
use super::error::{FileCtx, FrontendError};
use super::json::{parse_document, Json, Kind};
use super::param;
use super::read_text;
use super::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};

/// Reads an XGBoost JSON model file.
pub fn load(path: &Path) -> Result<TreeEnsemble, FrontendError> {
    load_noted(path).map(|(e, _)| e)
}

/// [`load`], with notes for the user on what was read differently from the file's full
/// content (the trees dropped after early stopping).
pub fn load_noted(path: &Path) -> Result<(TreeEnsemble, Vec<String>), FrontendError> {
    let ctx = FileCtx::new(path);
    let text = read_text(path, &ctx)?;
    parse_with(&text, &ctx)
}

/// Parses XGBoost JSON held in memory; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<TreeEnsemble, FrontendError> {
    let ctx = FileCtx { file: file.into() };
    parse_with(text, &ctx).map(|(e, _)| e)
}

/// How `base_score` maps from output space to margin space, per objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Identity,
    Logit,
    Log,
}

/// The objectives whose base-score link we know for certain. Anything else is refused rather
/// than guessed: a wrong link shifts every margin.
const OBJECTIVES: &[(&str, Link)] = &[
    ("binary:logistic", Link::Logit),
    // The margin without the sigmoid. XGBoost adds base_score to it as it is (checked against
    // XGBoost 3.2's own margins: the logit link would be off by the logit of base_score).
    ("binary:logitraw", Link::Identity),
    // predict is `margin > 0` as 0/1; base_score is stored in margin space.
    ("binary:hinge", Link::Identity),
    ("reg:logistic", Link::Logit),
    ("reg:squarederror", Link::Identity),
    ("reg:absoluteerror", Link::Identity),
    // One output per `quantile_alpha` (learner_model_param.num_target of them).
    ("reg:quantileerror", Link::Identity),
    ("multi:softprob", Link::Identity),
    ("multi:softmax", Link::Identity),
    ("count:poisson", Link::Log),
    ("reg:gamma", Link::Log),
    ("reg:tweedie", Link::Log),
];

fn parse_with(text: &str, ctx: &FileCtx) -> Result<(TreeEnsemble, Vec<String>), FrontendError> {
    let root = parse_document(text, ctx)?;
    let top = root.object()?;
    let version = match top.opt("version") {
        Some(v) => {
            let parts = v.i64_vec()?;
            parts.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(".")
        }
        None => "unknown version".to_string(),
    };
    let learner = top.req("learner")?.object()?;

    let param = learner.req("learner_model_param")?.object()?;
    let num_features = param.req("num_feature")?.as_usize_lenient()?;
    let num_class_field = param.req("num_class")?;
    let num_class = num_class_field.as_usize_lenient()?;
    let objective_field = learner.req("objective")?.field("name")?;
    let objective = objective_field.as_string()?;
    let link = OBJECTIVES.iter().find(|(name, _)| *name == objective).map(|(_, l)| *l).ok_or_else(
        || {
            let known: Vec<&str> = OBJECTIVES.iter().map(|(n, _)| *n).collect();
            objective_field.unsupported(format!(
                "objective `{objective}` is not supported (supported: {})",
                known.join(", ")
            ))
        },
    )?;
    let mut num_outputs = num_class.max(1);
    if let Some(t) = param.opt("num_target") {
        let n = t.as_usize_lenient()?;
        if n > 1 && objective == "reg:quantileerror" && num_class <= 1 {
            // One tree per alpha per round, `tree_info` naming the alpha: like multi-class.
            num_outputs = n;
        } else if n > 1 {
            return Err(t.unsupported(format!(
                "multi-target models ({n} targets) are not supported (only reg:quantileerror \
                 with several quantile_alpha values, one output per alpha)"
            )));
        }
    }

    let base_field = param.req("base_score")?;

    let booster = learner.req("gradient_booster")?;
    let gb = booster.object()?;
    let gb_name_field = gb.req("name")?;
    let (model, weight_drop) = match gb_name_field.as_string()?.as_str() {
        "gbtree" => (gb.req("model")?, None),
        "dart" => {
            let model = gb.req("gbtree")?.field("model")?;
            let w = gb.opt("weight_drop").ok_or_else(|| {
                ctx.unsupported(
                    format!("{}.weight_drop", booster.path()),
                    "DART model without `weight_drop`: the per-tree scale is unknown",
                )
            })?;
            (model, Some((w.f32_vec()?, w)))
        }
        "gblinear" => {
            return Err(gb_name_field
                .unsupported("`gblinear` models are linear, not tree ensembles; not supported"))
        }
        other => {
            return Err(gb_name_field.unsupported(format!(
                "booster `{other}` is not supported (expected gbtree or dart)"
            )))
        }
    };

    let model_obj = model.object()?;
    let trees_field = model_obj.req("trees")?;
    let tree_values = trees_field.array()?;
    let info_field = model_obj.req("tree_info")?;
    let tree_info = info_field.i64_vec()?;
    if tree_info.len() != tree_values.len() {
        return Err(info_field.invalid(format!(
            "has {} entries but there are {} trees",
            tree_info.len(),
            tree_values.len()
        )));
    }
    // The output count sizes the base margins: checked against the trees before allocating.
    super::check::check_declared_outputs(
        ctx,
        num_class_field.path(),
        num_outputs,
        tree_values.len(),
    )?;
    let base_margin = base_margins(&base_field, link, num_outputs)?;
    if let Some(p) = model_obj.opt("gbtree_model_param") {
        if let Some(nt) = p.object()?.opt("num_trees") {
            let n = nt.as_usize_lenient()?;
            if n != tree_values.len() {
                return Err(
                    nt.invalid(format!("says {n} trees but `trees` has {}", tree_values.len()))
                );
            }
        }
    }
    if let Some((w, field)) = &weight_drop {
        if w.len() != tree_values.len() {
            return Err(field.invalid(format!(
                "has {} entries but there are {} trees",
                w.len(),
                tree_values.len()
            )));
        }
    }

    let mut notes = Vec::new();
    let used = match learner.opt("attributes") {
        Some(a) => best_iteration_trees(&a, model_obj.opt("iteration_indptr"), tree_values.len())?,
        None => None,
    };
    let used = match used {
        Some((best, n, rounds)) if n < tree_values.len() => {
            notes.push(format!(
                "{}: early stopping chose round {best} (learner.attributes.best_iteration): using \
                 the first {n} of {} trees ({} of {rounds} rounds), as the scikit-learn \
                 wrapper's predict does",
                ctx.file,
                tree_values.len(),
                best + 1
            ));
            n
        }
        _ => tree_values.len(),
    };
    let mut trees = Vec::with_capacity(used);
    for (i, tv) in tree_values.iter().enumerate().take(used) {
        let output =
            usize::try_from(tree_info[i]).ok().filter(|o| *o < num_outputs).ok_or_else(|| {
                ctx.invalid(
                    format!("{}[{i}]", info_field.path()),
                    format!(
                        "class {} is out of range: the model has {num_outputs} output(s) ({})",
                        tree_info[i],
                        num_class_field.path()
                    ),
                )
            })?;
        let scale = weight_drop.as_ref().map(|(w, _)| w[i]);
        let nodes = parse_tree(tv, num_features, scale)?;
        trees.push(Tree { output, nodes });
    }

    let ensemble = TreeEnsemble {
        num_features,
        num_outputs,
        base_margin,
        trees,
        aggregation: Aggregation::Sum,
        objective,
        source: format!("xgboost {version}"),
    };
    super::check::check_ensemble(ctx, "learner.learner_model_param.num_feature", &ensemble)?;
    Ok((ensemble, notes))
}

/// After early stopping, `(best_iteration, trees it uses, rounds in the file)`: the trees of
/// rounds `0..=best_iteration`, found from `iteration_indptr` (tree offsets per round). `None`
/// without a `best_iteration` attribute. Files without `iteration_indptr` (XGBoost < 2) are
/// refused when truncation is needed: their trees per round are not recorded.
fn best_iteration_trees(
    attributes: &Json,
    indptr: Option<Json>,
    trees: usize,
) -> Result<Option<(usize, usize, usize)>, FrontendError> {
    let Some(best_field) = attributes.object()?.opt("best_iteration") else {
        return Ok(None);
    };
    let best = best_field.as_usize_lenient()?;
    let Some(indptr_field) = indptr else {
        return Err(best_field.unsupported(
            "early stopping is recorded but the model has no `iteration_indptr` (XGBoost < 2), \
             so the trees of each round are unknown: save the model with XGBoost 2 or later",
        ));
    };
    let indptr = indptr_field.i64_vec()?;
    let rounds = indptr.len().saturating_sub(1);
    let ok = indptr.first() == Some(&0)
        && indptr.last().copied() == Some(trees as i64)
        && indptr.windows(2).all(|w| w[0] <= w[1]);
    if !ok {
        return Err(indptr_field
            .invalid(format!("expected non-decreasing tree offsets from 0 to the {trees} trees")));
    }
    let n = indptr[(best + 1).min(rounds)] as usize;
    Ok(Some((best, n, rounds)))
}

/// Reads `base_score` (a number, a scalar string or a bracketed vector string) and maps each
/// value into margin space with the objective's link, in float32 like XGBoost.
fn base_margins(field: &Json, link: Link, num_outputs: usize) -> Result<Vec<f64>, FrontendError> {
    let values: Vec<f32> = match field.kind() {
        Kind::Number => vec![field.as_f32()?],
        Kind::String => {
            let s = field.as_string()?;
            let inner = s.trim();
            let inner = inner.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(inner);
            let texts: Vec<&str> = inner.split(',').map(str::trim).collect();
            let values = texts
                .iter()
                .map(|p| {
                    p.parse::<f32>()
                        .map_err(|_| field.invalid(format!("in \"{s}\": `{p}` is not a number")))
                })
                .collect::<Result<Vec<f32>, _>>()?;
            // A string may spell NaN or inf (E0101); a number beyond float32 is E0102.
            let spelled = |p: &str| {
                let p = p.to_ascii_lowercase();
                p.contains("nan") || p.contains("inf")
            };
            let literal = texts.iter().zip(&values).map(|(p, v)| if spelled(p) { *v } else { 0.0 });
            field.ctx().finite(field.path(), literal.map(f64::from))?;
            field.in_range(values.iter().map(|v| *v as f64), "float32")?;
            values
        }
        _ => return Err(field.invalid("expected a number or a string holding numbers")),
    };
    let values = match values.len() {
        1 => vec![values[0]; num_outputs],
        n if n == num_outputs => values,
        n => {
            return Err(
                field.invalid(format!("has {n} values but the model has {num_outputs} output(s)"))
            )
        }
    };
    values
        .into_iter()
        .map(|p| {
            let m = match link {
                Link::Identity => p,
                Link::Logit => {
                    if !(p > 0.0 && p < 1.0) {
                        return Err(field.invalid(format!(
                            "base_score {p} is not a probability in (0, 1), as the objective's logit link needs"
                        )));
                    }
                    -(1.0f32 / p - 1.0f32).ln()
                }
                Link::Log => {
                    if p.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                        return Err(field.invalid(format!(
                            "base_score {p} must be positive for the objective's log link"
                        )));
                    }
                    p.ln()
                }
            };
            if m.is_finite() {
                Ok(m as f64)
            } else {
                Err(field.invalid(format!("base_score {p} has no finite margin")))
            }
        })
        .collect()
}

/// Converts one `trees[i]` object, keeping XGBoost's node ids.
fn parse_tree(
    tv: &Json,
    num_features: usize,
    scale: Option<f32>,
) -> Result<Vec<Node>, FrontendError> {
    let ctx = tv.ctx();
    let t = tv.object()?;
    let tp = t.req("tree_param")?.object()?;
    let num_nodes = tp.req("num_nodes")?.as_usize_lenient()?;
    if let Some(s) = tp.opt("size_leaf_vector") {
        let n = s.as_usize_lenient()?;
        if n > 1 {
            return Err(s.unsupported(format!(
                "vector-leaf trees (size_leaf_vector = {n}, multi_strategy = multi_output_tree) are not supported"
            )));
        }
    }
    let arr = |name: &str| -> Result<(Json, Vec<i64>), FrontendError> {
        let f = t.req(name)?;
        let v = int_or_bool_vec(&f)?;
        Ok((f, v))
    };
    let (lf, left) = arr("left_children")?;
    let (rf, right) = arr("right_children")?;
    let (sf, feat) = arr("split_indices")?;
    let (df, default_left) = arr("default_left")?;
    let cf = t.req("split_conditions")?;
    let cond = cf.f32_vec()?;
    let split_type = match t.opt("split_type") {
        Some(f) => Some((int_or_bool_vec(&f)?, f)),
        None => None,
    };
    for (f, len) in [
        (&lf, left.len()),
        (&rf, right.len()),
        (&sf, feat.len()),
        (&df, default_left.len()),
        (&cf, cond.len()),
    ]
    .into_iter()
    .chain(split_type.as_ref().map(|(v, f)| (f, v.len())))
    {
        if len != num_nodes {
            return Err(
                f.invalid(format!("has {len} entries but tree_param.num_nodes is {num_nodes}"))
            );
        }
    }

    let at = |f: &Json, j: usize| format!("{}[{j}]", f.path());
    let mut nodes = Vec::with_capacity(num_nodes);
    for j in 0..num_nodes {
        if left[j] == -1 {
            if right[j] != -1 {
                return Err(ctx.invalid(
                    at(&rf, j),
                    format!(
                        "node {j} is a leaf (left child -1) but its right child is {}",
                        right[j]
                    ),
                ));
            }
            let leaf = match scale {
                // DART: XGBoost multiplies the tree's float32 output by the float32 weight.
                Some(w) => cond[j] * w,
                None => cond[j],
            };
            if !leaf.is_finite() {
                return Err(param::not_representable(
                    &ctx.file,
                    &at(&cf, j),
                    j,
                    1,
                    format!("leaf {} times the DART weight {scale:?} overflows float32", cond[j]),
                )
                .into());
            }
            nodes.push(Node::Leaf { value: leaf as f64 });
            continue;
        }
        let child = |f: &Json, v: i64| -> Result<u32, FrontendError> {
            u32::try_from(v).ok().filter(|c| (*c as usize) < num_nodes).ok_or_else(|| {
                ctx.invalid(
                    at(f, j),
                    format!("child index {v} is out of range: the tree has {num_nodes} nodes"),
                )
            })
        };
        let l = child(&lf, left[j])?;
        let r = child(&rf, right[j])?;
        if let Some((st, stf)) = &split_type {
            match st[j] {
                0 => {}
                1 => {
                    return Err(ctx.unsupported(at(stf, j), "categorical splits are not supported"))
                }
                other => return Err(ctx.invalid(at(stf, j), format!("unknown split type {other}"))),
            }
        }
        let feature = u32::try_from(feat[j])
            .ok()
            .filter(|f| (*f as usize) < num_features)
            .ok_or_else(|| {
                ctx.invalid(
                    at(&sf, j),
                    format!(
                        "feature index {} is out of range: learner_model_param.num_feature is {num_features}",
                        feat[j]
                    ),
                )
            })?;
        let missing_left = match default_left[j] {
            0 => false,
            1 => true,
            other => return Err(ctx.invalid(at(&df, j), format!("expected 0 or 1, found {other}"))),
        };
        nodes.push(Node::Split {
            feature,
            threshold: cond[j],
            op: SplitOp::Lt,
            left: l,
            right: r,
            missing_left,
        });
    }
    check_tree(ctx, tv.path(), nodes, |j, side| match side {
        Side::Left => at(&lf, j),
        Side::Right => at(&rf, j),
    })
}

/// XGBoost writes `default_left` as 0/1 integers (older versions: booleans); accept both.
fn int_or_bool_vec(f: &Json) -> Result<Vec<i64>, FrontendError> {
    match f.i64_vec() {
        Ok(v) => Ok(v),
        Err(e) => {
            let items = f.array()?;
            if items.iter().all(|i| i.kind() == Kind::Bool) {
                items.iter().map(|i| i.as_bool().map(i64::from)).collect()
            } else {
                Err(e)
            }
        }
    }
}
