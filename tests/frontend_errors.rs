//! Error paths of the tree frontends and the `.npy` reader: corrupt or unsupported input must
//! give an error naming the file and the field (JSON path, `Tree=N field[i] (line L)`), never a
//! panic or a silently wrong model. Each case mutates one thing in a small valid model (inline
//! below) or uses a committed corrupt file in `tests/fixtures/trees/corrupt/`.

use std::path::Path;

use tessera::dsl::accel::ModelFormat;
use tessera::frontend::trees::{Node, TreeEnsemble};
use tessera::frontend::{lightgbm, load_tree_model, npy, treelite, xgboost, FrontendError};

/// One split `x1 < 0.5 ? 1.0 : -1.0`, NaN left, base_score 0.5 (logit 0).
const XGB: &str = r#"{"learner":{"attributes":{},"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1"},"iteration_indptr":[0,1],"tree_info":[0],"trees":[{"base_weights":[0E0,1E0,-1E0],"default_left":[1,0,0],"id":0,"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_conditions":[5E-1,1E0,-1E0],"split_indices":[1,0,0],"split_type":[0,0,0],"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"1"}}]},"name":"gbtree"},"learner_model_param":{"base_score":"[5E-1]","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"},"objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[3,2,0]}"#;

/// One split `x1 <= 0.5 ? 1.0 : -1.0`, missing type None, default left.
const LGBM: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=regression
tree_sizes=200

Tree=0
num_leaves=2
num_cat=0
split_feature=1
threshold=0.5
decision_type=2
left_child=-1
right_child=-2
leaf_value=1 -1
is_linear=0
shrinkage=1


end of trees
";

/// One split `x1 <= 0.5 ? 1.0 : -1.0`, NaN left.
const TL: &str = r#"{"threshold_type":"float64","leaf_output_type":"float64","num_feature":2,"task_type":"kRegressor","average_tree_output":false,"num_target":1,"num_class":[1],"leaf_vector_shape":[1,1],"target_id":[0],"class_id":[0],"postprocessor":"identity","sigmoid_alpha":1.0,"ratio_c":1.0,"base_scores":[0.0],"attributes":"{}","trees":[{"num_nodes":3,"has_categorical_split":false,"nodes":[{"node_id":0,"split_feature_id":1,"default_left":true,"node_type":"numerical_test_node","comparison_op":"<=","threshold":0.5,"left_child":1,"right_child":2},{"node_id":1,"leaf_value":1.0},{"node_id":2,"leaf_value":-1.0}]}]}"#;

fn replaced(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "mutation target `{from}` not in the base model");
    base.replacen(from, to, 1)
}

fn xgb_err(from: &str, to: &str) -> String {
    xgboost::parse_str(&replaced(XGB, from, to), "m.json").unwrap_err().to_string()
}

fn lgbm_err(from: &str, to: &str) -> String {
    lightgbm::parse_str(&replaced(LGBM, from, to), "m.txt").unwrap_err().to_string()
}

fn tl_err(from: &str, to: &str) -> String {
    treelite::parse_str(&replaced(TL, from, to), "m.json").unwrap_err().to_string()
}

/// The three base models are valid and mean `x1 < / <= 0.5 ? 1 : -1` with NaN left.
fn assert_one_split(m: &TreeEnsemble, at_threshold: f64) {
    assert_eq!(m.predict_margin(&[9.0, 0.25]), vec![1.0]);
    assert_eq!(m.predict_margin(&[9.0, 0.75]), vec![-1.0]);
    assert_eq!(m.predict_margin(&[9.0, 0.5]), vec![at_threshold]);
    assert_eq!(m.predict_margin(&[9.0, f32::NAN]), vec![1.0]);
}

#[test]
fn base_models_are_valid() {
    assert_one_split(&xgboost::parse_str(XGB, "m.json").unwrap(), -1.0);
    assert_one_split(&lightgbm::parse_str(LGBM, "m.txt").unwrap(), 1.0);
    assert_one_split(&treelite::parse_str(TL, "m.json").unwrap(), 1.0);
}

const TREE0: &str = "learner.gradient_booster.model.trees[0]";

#[test]
fn xgboost_categorical_split() {
    assert_eq!(
        xgb_err(r#""split_type":[0,0,0]"#, r#""split_type":[1,0,0]"#),
        format!("m.json: {TREE0}.split_type[0]: categorical splits are not supported")
    );
}

#[test]
fn xgboost_child_out_of_range() {
    assert_eq!(
        xgb_err(r#""left_children":[1,-1,-1]"#, r#""left_children":[7,-1,-1]"#),
        format!(
            "m.json: {TREE0}.left_children[0]: child index 7 is out of range: the tree has 3 nodes"
        )
    );
}

#[test]
fn xgboost_cycle_in_child_pointers() {
    // Node 1 becomes a split whose left child is the root.
    let text = replaced(
        &replaced(XGB, r#""left_children":[1,-1,-1]"#, r#""left_children":[1,0,-1]"#),
        r#""right_children":[2,-1,-1]"#,
        r#""right_children":[2,2,-1]"#,
    );
    let e = xgboost::parse_str(&text, "m.json").unwrap_err().to_string();
    assert_eq!(e, format!("m.json: {TREE0}.left_children[1]: points back at the root (cycle)"));
}

#[test]
fn xgboost_feature_out_of_range() {
    assert_eq!(
        xgb_err(r#""split_indices":[1,0,0]"#, r#""split_indices":[5,0,0]"#),
        format!(
            "m.json: {TREE0}.split_indices[0]: feature index 5 is out of range: \
             learner_model_param.num_feature is 2"
        )
    );
}

#[test]
fn xgboost_threshold_out_of_float32_range() {
    assert_eq!(
        xgb_err(r#""split_conditions":[5E-1,"#, r#""split_conditions":[1E39,"#),
        format!(
            "m.json: {TREE0}.split_conditions: 1 value outside the float32 range (the first at \
             index 0); tessera computes with float32 here"
        )
    );
}

#[test]
fn xgboost_wrong_types() {
    assert_eq!(
        xgb_err(r#""num_feature":"2","num_target""#, r#""num_feature":"two","num_target""#),
        "m.json: learner.learner_model_param.num_feature: expected a non-negative integer, found \"two\""
    );
    assert_eq!(
        xgb_err(r#""left_children":[1,-1,-1]"#, r#""left_children":"1,-1,-1""#),
        format!("m.json: {TREE0}.left_children: expected an array, found a string (\"1,-1,-1\")")
    );
    assert_eq!(
        xgb_err(r#""split_indices":[1,0,0]"#, r#""split_indices":[1.5,0,0]"#),
        format!("m.json: {TREE0}.split_indices[0]: expected an integer, found `1.5`")
    );
    assert_eq!(
        xgb_err(r#""default_left":[1,0,0]"#, r#""default_left":[2,0,0]"#),
        format!("m.json: {TREE0}.default_left[0]: expected 0 or 1, found 2")
    );
}

#[test]
fn xgboost_missing_field_and_length_mismatch() {
    assert_eq!(
        xgb_err(r#""tree_info":[0],"#, ""),
        "m.json: learner.gradient_booster.model.tree_info: required field is missing"
    );
    assert_eq!(
        xgb_err(r#""split_conditions":[5E-1,1E0,-1E0]"#, r#""split_conditions":[5E-1,1E0]"#),
        format!("m.json: {TREE0}.split_conditions: has 2 entries but tree_param.num_nodes is 3")
    );
    assert_eq!(
        xgb_err(r#""num_trees":"1""#, r#""num_trees":"2""#),
        "m.json: learner.gradient_booster.model.gbtree_model_param.num_trees: says 2 trees but `trees` has 1"
    );
    assert_eq!(
        xgb_err(r#""tree_info":[0]"#, r#""tree_info":[3]"#),
        "m.json: learner.gradient_booster.model.tree_info[0]: class 3 is out of range: the model \
         has 1 output(s) (learner.learner_model_param.num_class)"
    );
}

#[test]
fn xgboost_unsupported_models() {
    let e = xgb_err(r#""name":"binary:logistic""#, r#""name":"survival:cox""#);
    assert!(
        e.starts_with(
            "m.json: learner.objective.name: objective `survival:cox` is not supported (supported: binary:logistic,"
        ),
        "{e}"
    );
    assert_eq!(
        xgb_err(r#""name":"gbtree""#, r#""name":"gblinear""#),
        "m.json: learner.gradient_booster.name: `gblinear` models are linear, not tree ensembles; not supported"
    );
    assert_eq!(
        xgb_err(r#""size_leaf_vector":"1""#, r#""size_leaf_vector":"3""#),
        format!(
            "m.json: {TREE0}.tree_param.size_leaf_vector: vector-leaf trees (size_leaf_vector = 3, \
             multi_strategy = multi_output_tree) are not supported"
        )
    );
    assert_eq!(
        xgb_err(r#""num_target":"1""#, r#""num_target":"2""#),
        "m.json: learner.learner_model_param.num_target: multi-target models (2 targets) are not \
         supported (only reg:quantileerror with several quantile_alpha values, one output per alpha)"
    );
    // DART without weights cannot be evaluated.
    let dart = replaced(
        XGB,
        r#""gradient_booster":{"model":"#,
        r#""gradient_booster":{"gbtree":{"name":"gbtree","model":"#,
    )
    .replacen(
        r#""name":"gbtree"},"learner_model_param""#,
        r#""name":"gbtree"},"name":"dart"},"learner_model_param""#,
        1,
    );
    let e = xgboost::parse_str(&dart, "m.json").unwrap_err().to_string();
    assert_eq!(
        e,
        "m.json: learner.gradient_booster.weight_drop: DART model without `weight_drop`: the per-tree scale is unknown"
    );
}

#[test]
fn xgboost_base_score_checks() {
    assert_eq!(
        xgb_err(r#""base_score":"[5E-1]""#, r#""base_score":"[1.5E0]""#),
        "m.json: learner.learner_model_param.base_score: base_score 1.5 is not a probability in (0, 1), \
         as the objective's logit link needs"
    );
    assert_eq!(
        xgb_err(r#""base_score":"[5E-1]""#, r#""base_score":"[5E-1,1E-1]""#),
        "m.json: learner.learner_model_param.base_score: has 2 values but the model has 1 output(s)"
    );
    assert_eq!(
        xgb_err(r#""base_score":"[5E-1]""#, r#""base_score":"[half]""#),
        "m.json: learner.learner_model_param.base_score: in \"[half]\": `half` is not a number"
    );
    // XGBoost 2.x writes a plain scalar string; also accepted.
    let m = xgboost::parse_str(&replaced(XGB, r#""[5E-1]""#, r#""5E-1""#), "m.json").unwrap();
    assert_eq!(m.base_margin, vec![0.0]);
}

#[test]
fn xgboost_truncated_and_binary_files() {
    let e = xgboost::load(Path::new("tests/fixtures/trees/corrupt/xgb_truncated.json"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "tests/fixtures/trees/corrupt/xgb_truncated.json: line 1, column 3000: file ends in the \
         middle of a JSON value (truncated?)"
    );
    let e = xgboost::load(Path::new("tests/fixtures/trees/corrupt/xgb_ubjson.ubj"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "tests/fixtures/trees/corrupt/xgb_ubjson.ubj: byte 5: not UTF-8 text (is this a binary \
         model, e.g. UBJSON? save it as .json)"
    );
    let e = xgboost::parse_str("{\"learner\": [1, 2,, 3]}", "m.json").unwrap_err().to_string();
    assert_eq!(e, "m.json: line 1, column 19: not valid JSON: expected value");
}

#[test]
fn missing_file_names_the_file() {
    let e = load_tree_model(ModelFormat::Xgboost, Path::new("no/such/model.json")).unwrap_err();
    assert!(matches!(e, FrontendError::Io { .. }));
    assert!(e.to_string().starts_with("no/such/model.json: cannot read: "), "{e}");
    assert_eq!(e.file(), "no/such/model.json");
}

#[test]
fn non_tree_formats_are_refused() {
    let e = load_tree_model(ModelFormat::Onnx, Path::new("m.onnx")).unwrap_err();
    assert_eq!(e.to_string(), "m.onnx: (model format): `onnx` is not a tree-ensemble format");
}

#[test]
fn lightgbm_unsupported_features() {
    assert_eq!(
        lgbm_err("decision_type=2", "decision_type=3"),
        "m.txt: Tree=0 decision_type[0] (line 15): categorical splits are not supported"
    );
    assert_eq!(
        lgbm_err("is_linear=0", "is_linear=1"),
        "m.txt: Tree=0 is_linear (line 19): linear trees (linear_tree=true) are not supported"
    );
    assert_eq!(
        lgbm_err("num_cat=0", "num_cat=2"),
        "m.txt: Tree=0 num_cat (line 12): categorical splits are not supported"
    );
}

#[test]
fn lightgbm_out_of_range_and_malformed_values() {
    assert_eq!(
        lgbm_err("split_feature=1", "split_feature=4"),
        "m.txt: Tree=0 split_feature[0] (line 13): feature index 4 is out of range: max_feature_idx is 1"
    );
    assert_eq!(
        lgbm_err("right_child=-2", "right_child=-5"),
        "m.txt: Tree=0 right_child[0] (line 17): child -5 is out of range: the tree has 1 splits and 2 leaves"
    );
    assert_eq!(
        lgbm_err("threshold=0.5", "threshold=nan"),
        "m.txt: Tree=0 threshold (line 14): 1 non-finite value (the first, NaN, at index 0); a \
         model parameter must be a finite number: retrain or re-export the model without NaN/inf"
    );
    assert_eq!(
        lgbm_err("threshold=0.5", "threshold=half"),
        "m.txt: Tree=0 threshold[0] (line 14): expected a number, found `half`"
    );
    assert_eq!(
        lgbm_err("leaf_value=1 -1", "leaf_value=1"),
        "m.txt: Tree=0 leaf_value (line 18): has 1 entries but num_leaves implies 2"
    );
    assert_eq!(
        lgbm_err("leaf_value=1 -1", "leaf_value=1 inf"),
        "m.txt: Tree=0 leaf_value (line 18): 1 non-finite value (the first, inf, at index 1); a \
         model parameter must be a finite number: retrain or re-export the model without NaN/inf"
    );
    assert_eq!(
        lgbm_err("decision_type=2", "decision_type=14"),
        "m.txt: Tree=0 decision_type[0] (line 15): unknown missing type 3 in decision type 14"
    );
    assert_eq!(
        lgbm_err("leaf_value=1 -1\n", ""),
        "m.txt: Tree=0 (line 10): required field `leaf_value` is missing"
    );
}

#[test]
fn lightgbm_cycle_in_child_pointers() {
    // Two splits; split 1's left child points back at split 0.
    let text = LGBM
        .replace("num_leaves=2", "num_leaves=3")
        .replace("split_feature=1", "split_feature=1 0")
        .replace("threshold=0.5", "threshold=0.5 0.25")
        .replace("decision_type=2", "decision_type=2 2")
        .replace("left_child=-1", "left_child=1 0")
        .replace("right_child=-2", "right_child=-2 -3")
        .replace("leaf_value=1 -1", "leaf_value=1 -1 2");
    let e = lightgbm::parse_str(&text, "m.txt").unwrap_err().to_string();
    assert_eq!(e, "m.txt: Tree=0 left_child[1] (line 16): points back at the root (cycle)");
}

#[test]
fn lightgbm_truncated_files() {
    let e = lightgbm::load(Path::new("tests/fixtures/trees/corrupt/lgbm_truncated.txt"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "tests/fixtures/trees/corrupt/lgbm_truncated.txt: line 30: file ends before `end of trees` (truncated?)"
    );
    // Cut exactly at a tree boundary: `tree_sizes` still tells.
    assert_eq!(
        lgbm_err("tree_sizes=200", "tree_sizes=200 180"),
        "m.txt: header tree_sizes (line 8): lists 2 trees but the file holds 1 `Tree=` blocks (truncated?)"
    );
    assert_eq!(
        lightgbm::parse_str("{\"name\": \"tree\"}", "m.txt").unwrap_err().to_string(),
        "m.txt: line 1: not a LightGBM text model (the first line should be `tree`; JSON from \
         `dump_model()` is not read, use `save_model`)"
    );
    assert_eq!(
        lightgbm::parse_str("", "m.txt").unwrap_err().to_string(),
        "m.txt: line 1: file is empty"
    );
}

const TL_NODE0: &str = "trees[0].nodes[0]";

#[test]
fn treelite_unsupported_features() {
    assert_eq!(
        tl_err("numerical_test_node", "categorical_test_node"),
        format!("m.json: {TL_NODE0}.node_type: categorical splits are not supported")
    );
    assert_eq!(
        tl_err(r#""comparison_op":"<=""#, r#""comparison_op":"==""#),
        format!("m.json: {TL_NODE0}.comparison_op: comparison `==` is not supported")
    );
    assert_eq!(
        tl_err(r#""num_target":1"#, r#""num_target":2"#),
        "m.json: num_target: multi-target models (2 targets) are not supported"
    );
}

#[test]
fn treelite_structural_errors() {
    assert_eq!(
        tl_err(r#""right_child":2"#, r#""right_child":9"#),
        format!(
            "m.json: {TL_NODE0}.right_child: child index 9 is out of range: the tree has 3 nodes"
        )
    );
    assert_eq!(
        tl_err(r#""left_child":1"#, r#""left_child":0"#),
        format!("m.json: {TL_NODE0}.left_child: points back at the root (cycle)")
    );
    // With `>` the children are swapped internally; the error still names the field as written.
    let swapped = replaced(TL, r#""comparison_op":"<=""#, r#""comparison_op":">""#);
    let e = treelite::parse_str(
        &replaced(&swapped, r#""left_child":1"#, r#""left_child":0"#),
        "m.json",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, format!("m.json: {TL_NODE0}.left_child: points back at the root (cycle)"));
    assert_eq!(
        tl_err(r#"{"node_id":2,"#, r#"{"node_id":1,"#),
        "m.json: trees[0].nodes[2].node_id: node id 1 is defined twice"
    );
    assert_eq!(
        tl_err(r#""split_feature_id":1"#, r#""split_feature_id":2"#),
        format!("m.json: {TL_NODE0}.split_feature_id: feature index 2 is out of range: num_feature is 2")
    );
    assert_eq!(
        tl_err(r#""threshold":0.5"#, r#""threshold":"0.5""#),
        format!("m.json: {TL_NODE0}.threshold: expected a number, found a string (\"0.5\")")
    );
    assert_eq!(
        tl_err(r#""leaf_value":1.0"#, r#""leaf_value":[1.0,2.0]"#),
        "m.json: trees[0].nodes[1].leaf_value: has 2 value(s) but leaf_vector_shape says 1"
    );
    assert_eq!(
        tl_err(r#""num_nodes":3"#, r#""num_nodes":4"#),
        "m.json: trees[0].nodes: has 3 nodes but num_nodes is 4"
    );
    assert_eq!(
        tl_err(r#""class_id":[0]"#, r#""class_id":[2]"#),
        "m.json: class_id[0]: class 2 is out of range for a scalar-leaf tree: the model has 1 class(es)"
    );
}

#[test]
fn treelite_greater_than_is_the_swapped_less_equal() {
    // `x1 > 0.5 ? 1 : -1` with NaN left == `x1 <= 0.5 ? -1 : 1` with NaN right... i.e. NaN → 1.
    let m = treelite::parse_str(
        &replaced(TL, r#""comparison_op":"<=""#, r#""comparison_op":">""#),
        "m.json",
    )
    .unwrap();
    assert_eq!(m.predict_margin(&[0.0, 0.75]), vec![1.0]);
    assert_eq!(m.predict_margin(&[0.0, 0.5]), vec![-1.0]);
    assert_eq!(m.predict_margin(&[0.0, 0.25]), vec![-1.0]);
    assert_eq!(m.predict_margin(&[0.0, f32::NAN]), vec![1.0]);
    match &m.trees[0].nodes[0] {
        Node::Split { left, right, missing_left, .. } => {
            assert_eq!((*left, *right, *missing_left), (2, 1, false))
        }
        other => panic!("{other:?}"),
    }
}

/// Writes `bytes` to a temporary `.npy` file and returns its path (kept alive by the dir).
fn temp_npy(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn npy_errors_name_the_file() {
    let e = npy::read_features(Path::new("tests/fixtures/trees/corrupt/x_truncated.npy"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "tests/fixtures/trees/corrupt/x_truncated.npy: shape: header declares shape [4, 3] of `<f4` \
         (48 data bytes) but the file holds 43 data bytes (truncated or corrupt?)"
    );
    let e = npy::read_features(Path::new("tests/fixtures/trees/corrupt/x_int8.npy"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "tests/fixtures/trees/corrupt/x_int8.npy: dtype: unsupported element type `|i1`"
        ),
        "{e}"
    );
    let e = npy::read_features(Path::new("tests/fixtures/trees/model.json")).unwrap_err();
    assert!(matches!(e, FrontendError::Io { .. }), "{e}");
    let e = npy::read_features(Path::new("tests/fixtures/trees/gen.py")).unwrap_err().to_string();
    assert!(e.starts_with("tests/fixtures/trees/gen.py: header: not a valid .npy file"), "{e}");
}

#[test]
fn npy_round_trip_shapes_and_conversion() {
    use ndarray::{array, Array1, Array2};
    use ndarray_npy::WriteNpyExt;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut buf = Vec::new();
        f(&mut buf);
        temp_npy(&dir, name, &buf)
    };
    // float32 [n, k] written by write_outputs reads back unchanged.
    let out: Array2<f32> = array![[1.5, -2.0], [f32::NAN, 0.25]];
    let p = dir.path().join("out.npy");
    npy::write_outputs(&p, &out).unwrap();
    let back = npy::read_features(&p).unwrap();
    assert!(back.note.is_none());
    assert_eq!(back.data[[0, 0]], 1.5);
    assert!(back.data[[1, 0]].is_nan());
    // float64 features are converted (round to nearest) with a note.
    let p = write("f64.npy", &|b| array![[0.1f64, 2.0]].write_npy(b).unwrap());
    let f = npy::read_features(&p).unwrap();
    assert_eq!(f.data[[0, 0]], 0.1f32);
    assert!(f.note.unwrap().contains("converted from float64 to float32"));
    // 1-D features are refused; 1-D references become [n, 1]; labels accept int64.
    let p = write("v.npy", &|b| Array1::from(vec![1.0f32, 2.0]).write_npy(b).unwrap());
    let e = npy::read_features(&p).unwrap_err().to_string();
    assert!(e.ends_with("shape: expected a 2-D array [samples, features], found shape [2]"), "{e}");
    assert_eq!(npy::read_matrix_f64(&p).unwrap().dim(), (2, 1));
    let p = write("y.npy", &|b| Array1::from(vec![0i64, 2, 1]).write_npy(b).unwrap());
    assert_eq!(npy::read_labels(&p).unwrap().to_vec(), vec![0.0, 2.0, 1.0]);
    let e = npy::read_features(&p).unwrap_err().to_string();
    assert!(e.ends_with("shape: expected a 2-D array [samples, features], found shape [3]"), "{e}");
    // Writing into a missing directory names the file.
    let e = npy::write_outputs(Path::new("no/such/dir/out.npy"), &out).unwrap_err();
    assert!(e.to_string().starts_with("no/such/dir/out.npy: cannot create: "), "{e}");
}

/// Parsing never panics, and a model that parses is safe to evaluate.
fn parse_any(kind: usize, text: &str) {
    let r = match kind {
        0 => xgboost::parse_str(text, "m.json"),
        1 => lightgbm::parse_str(text, "m.txt"),
        _ => treelite::parse_str(text, "m.json"),
    };
    if let Ok(m) = r {
        for x in [[0.0f32, 0.0], [f32::NAN, 1.0], [-1.0, f32::INFINITY]] {
            let mut row = vec![0.0f32; m.num_features];
            for (i, v) in x.iter().enumerate().take(m.num_features) {
                row[i] = *v;
            }
            let out = m.predict_margin(&row);
            assert_eq!(out.len(), m.num_outputs);
        }
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for (kind, base) in [XGB, LGBM, TL].into_iter().enumerate() {
        for end in (0..base.len()).filter(|e| base.is_char_boundary(*e)) {
            let r = match kind {
                0 => xgboost::parse_str(&base[..end], "m").map(|_| ()),
                1 => lightgbm::parse_str(&base[..end], "m").map(|_| ()),
                _ => treelite::parse_str(&base[..end], "m").map(|_| ()),
            };
            // LightGBM prefixes that end after `end of trees` are complete models.
            if !(kind == 1 && base[..end].contains("end of trees")) {
                assert!(r.is_err(), "kind {kind}: prefix of {end} bytes parsed");
            }
        }
    }
}

mod mutation {
    use super::*;
    use proptest::prelude::*;

    /// Characters that matter to the parsers: digits, signs, separators, brackets, quotes.
    const ALPHABET: &[u8] = b"0123456789-+.eE,:[]{}\" \n=tfnalx";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn mutated_models_never_panic(
            kind in 0usize..3,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..ALPHABET.len()), 1..4),
        ) {
            let base = [XGB, LGBM, TL][kind];
            let mut bytes = base.as_bytes().to_vec();
            for (at, c) in edits {
                let i = at.index(bytes.len());
                bytes[i] = ALPHABET[c];
            }
            let text = String::from_utf8(bytes).unwrap();
            parse_any(kind, &text);
        }
    }
}
