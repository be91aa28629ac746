//! Shared helpers for the `cam_*` tests.
//!
//! `cell_instance` elaborates `cam::acam_6t2m` from the stdlib through the real `.tess` front end,
//! so every figure the cost model uses comes from `stdlib/cam.tess`.
#![allow(dead_code)]

use ndarray::ArrayView2;
use tessera::cam::CamDesign;
use tessera::dsl::accel::{Instance, Value};
use tessera::dsl::{load_sources, LoadOptions};
use tessera::flow::driver::{lower_model, Lowered, Model};
use tessera::flow::Job;
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};
use tessera::units::{Dim, Quantity};

/// The `cam::acam_6t2m` component with its defaults, plus overrides.
pub fn cell_instance_with(overrides: &[(&str, Value)]) -> Instance {
    let src = "use cam::acam_6t2m;\naccelerator t {\n    inst cam = acam_6t2m();\n}\n";
    let loaded = load_sources(&[("cam_test.tess", src)], &tessera::flow::catalog::load_options());
    assert!(!loaded.has_errors(), "stdlib/cam.tess must elaborate cleanly");
    let mut inst = loaded.accelerators[0].instances["cam"].clone();
    for (k, v) in overrides {
        inst.params.insert(k.to_string(), v.clone());
    }
    inst
}

pub fn cell_instance() -> Instance {
    cell_instance_with(&[])
}

/// The job `tessera compile` builds for a description mapping a model onto a default
/// `cam::acam_6t2m` with `cam_pack(<options>)`, read through the real `.tess` front end (the
/// model file is never read: the tests hand the pipeline their ensemble).
pub fn cam_job(options: &str) -> Result<Job, String> {
    let src = format!(
        "use cam::acam_6t2m;\naccelerator t {{\n    model m = xgboost(\"model.json\");\n    \
         inst cam = acam_6t2m({});\n    map m -> cam using cam_pack({options});\n}}\n",
        instance_args(options)
    );
    let opts = LoadOptions { check_model_paths: false, ..tessera::flow::catalog::load_options() };
    let loaded = load_sources(&[("cam_test.tess", &src)], &opts);
    if loaded.has_errors() {
        let messages: Vec<&str> = loaded.diagnostics.iter().map(|d| d.message.as_str()).collect();
        return Err(messages.join("; "));
    }
    let accel = loaded.accelerators.into_iter().next().ok_or("no accelerator")?;
    Job::new(accel, None).map_err(|e| e.to_string())
}

/// The instance a user mapping `tile = RxC` declares: arrays of at least that size (the stdlib
/// default is 24x48), within the component's parameter ranges; other options keep the default.
fn instance_args(options: &str) -> String {
    let tile = options.split(',').find_map(|o| {
        let (k, v) = o.split_once('=')?;
        let (r, c) = v.trim().split_once('x')?;
        (k.trim() == "tile").then(|| (r.trim().parse::<u32>().ok(), c.trim().parse::<u32>().ok()))
    });
    match tile {
        Some((Some(r), Some(c))) if (1..=4096).contains(&r) && (1..=4096).contains(&c) => {
            format!("rows = {}, cols = {}", r.max(24), c.max(48))
        }
        _ => String::new(),
    }
}

/// Runs `model` through the tree family's pipeline as `tessera compile` does after loading
/// the model file: the pass manager on its model-level graph, with `train` as calibration data.
pub fn lower_graph(
    model: &TreeEnsemble,
    options: &str,
    train: Option<ArrayView2<f32>>,
) -> Result<(Job, Lowered), String> {
    let mut job = cam_job(options)?;
    job.calibration = train.map(|t| t.to_owned());
    let graph = tessera::cam::family::model_graph(model.clone()).map_err(|e| e.to_string())?;
    let loaded = Model::new(graph, job.calibration.clone());
    let lowered =
        lower_model(&tessera::cam::family::TREES, &job, loaded).map_err(|e| e.to_string())?;
    Ok((job, lowered))
}

/// The design `tessera sim` and `compile` realize for `model` mapped with `cam_pack(<options>)`:
/// the pipeline's final graph read back ([`tessera::cam::family::realized_design`]).
pub fn lower(
    model: &TreeEnsemble,
    options: &str,
    train: Option<ArrayView2<f32>>,
) -> Result<CamDesign, String> {
    let (job, lowered) = lower_graph(model, options, train)?;
    tessera::cam::family::realized_design(&job, &lowered).map_err(|e| e.to_string())
}

pub fn count(v: u64) -> Value {
    Value::Number(Quantity::scalar(v as f64))
}

pub fn quantity(si: f64, dim: Dim) -> Value {
    Value::Number(Quantity::new(si, dim))
}

/// SplitMix64: a tiny deterministic generator so tests need no extra crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// How random ensembles are shaped.
#[derive(Clone, Debug)]
pub struct EnsembleShape {
    pub features: usize,
    pub outputs: usize,
    pub trees: usize,
    pub max_depth: usize,
    /// Probability that a node above `max_depth` becomes a leaf early.
    pub early_leaf: f64,
    pub aggregation: Aggregation,
    /// Thresholds are drawn from this pool (small pools make exact ties between splits common).
    pub pool: Vec<f32>,
}

fn build(rng: &mut Rng, s: &EnsembleShape, depth: usize, nodes: &mut Vec<Node>) -> u32 {
    let id = nodes.len() as u32;
    if depth >= s.max_depth || (depth > 0 && rng.chance(s.early_leaf)) {
        let value = (rng.normal() * 2.0 * 1024.0).round() / 1024.0 + rng.unit() * 1e-3;
        nodes.push(Node::Leaf { value });
        return id;
    }
    nodes.push(Node::Leaf { value: 0.0 });
    let feature = rng.below(s.features) as u32;
    let threshold = s.pool[rng.below(s.pool.len())];
    let op = if rng.chance(0.5) { SplitOp::Lt } else { SplitOp::Le };
    let missing_left = rng.chance(0.5);
    let left = build(rng, s, depth + 1, nodes);
    let right = build(rng, s, depth + 1, nodes);
    nodes[id as usize] = Node::Split { feature, threshold, op, left, right, missing_left };
    id
}

pub fn random_ensemble(seed: u64, s: &EnsembleShape) -> TreeEnsemble {
    let mut rng = Rng(seed);
    let trees = (0..s.trees)
        .map(|t| {
            let mut nodes = Vec::new();
            build(&mut rng, s, 0, &mut nodes);
            Tree { output: t % s.outputs, nodes }
        })
        .collect();
    TreeEnsemble {
        num_features: s.features,
        num_outputs: s.outputs,
        base_margin: (0..s.outputs).map(|k| 0.25 * k as f64 - 0.125).collect(),
        trees,
        aggregation: s.aggregation,
        objective: "test".into(),
        source: "random".into(),
    }
}

/// A threshold pool with awkward values: signed zeros, neighbours, extremes, infinities.
pub fn nasty_pool() -> Vec<f32> {
    vec![
        -1.5,
        -0.0,
        0.0,
        0.5,
        1.0,
        tessera::cam::pack::next_up_f32(1.0),
        3.25,
        1e30,
        f32::MAX,
        -f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
    ]
}

/// Values that probe every threshold exactly and from both sides, plus NaN and infinities.
pub fn probes(pool: &[f32]) -> Vec<f32> {
    let mut v = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 7.0, -7.0];
    for t in pool {
        v.push(*t);
        v.push(tessera::cam::pack::next_up_f32(*t));
        v.push(tessera::cam::pack::next_down_f32(*t));
    }
    v
}

pub fn random_input(rng: &mut Rng, features: usize, probes: &[f32]) -> Vec<f32> {
    (0..features)
        .map(|_| {
            if rng.chance(0.8) {
                probes[rng.below(probes.len())]
            } else {
                (rng.normal() * 3.0) as f32
            }
        })
        .collect()
}
