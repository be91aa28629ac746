//! Bad cell parameters and options give errors naming the parameter or option, never a panic.

mod cam_common;

use cam_common::*;
use tessera::cam::energy::CamPhysics;
use tessera::cam::CamError;
use tessera::dsl::accel::Value;
use tessera::frontend::trees::{Aggregation, Node, SplitOp, Tree, TreeEnsemble};
use tessera::units::Dim;

fn small_model() -> TreeEnsemble {
    let nodes = vec![
        Node::Split {
            feature: 0,
            threshold: 0.5,
            op: SplitOp::Lt,
            left: 1,
            right: 2,
            missing_left: true,
        },
        Node::Leaf { value: 1.0 },
        Node::Leaf { value: -1.0 },
    ];
    TreeEnsemble {
        num_features: 2,
        num_outputs: 1,
        base_margin: vec![0.0],
        trees: vec![Tree { output: 0, nodes }],
        aggregation: Aggregation::Sum,
        objective: "reg".into(),
        source: "test".into(),
    }
}

#[test]
fn missing_or_mistyped_parameters_are_named() {
    let mut inst = cell_instance();
    inst.params.remove("c_ml");
    assert_eq!(
        CamPhysics::from_instance(&inst).unwrap_err().to_string(),
        "instance `cam` (cam::acam_6t2m) has no parameter `c_ml`, which this model needs"
    );
    let inst = cell_instance_with(&[("v_ml", quantity(1.0, Dim::CURRENT))]);
    assert_eq!(
        CamPhysics::from_instance(&inst).unwrap_err().to_string(),
        "parameter `v_ml` of instance `cam` (cam::acam_6t2m) must be a voltage"
    );
    let inst = cell_instance_with(&[("rows", count(0))]);
    assert_eq!(
        CamPhysics::from_instance(&inst).unwrap_err().to_string(),
        "parameter `rows` of instance `cam` is 0, outside 1..=65536"
    );
    let inst = cell_instance_with(&[("t_clk", quantity(0.0, Dim::TIME))]);
    assert!(matches!(CamPhysics::from_instance(&inst), Err(CamError::Param(_))));
    let inst = cell_instance_with(&[("levels", Value::Str("many".into()))]);
    assert!(CamPhysics::from_instance(&inst).unwrap_err().to_string().contains("whole number"));
}

#[test]
fn a_too_tall_array_is_rejected_by_the_driver_model() {
    // A 4096-row instance: R_out = 1 ns / (4096 * 1 fF) - 0.5 * 1 Ohm * 4095 = 244.1 - 2047.5 < 0,
    // refused by the instance's `require` in stdlib/cam.tess when the description is loaded.
    let e = lower(&small_model(), "tile = 4096x16", None).unwrap_err();
    assert!(e.contains("driver resistance") && e.contains("too tall for the clock"), "{e}");
}

#[test]
fn a_tile_larger_than_the_instance_is_refused() {
    // 65536 columns exceed the component's range, so the instance keeps its 24x48 default and
    // the mapping check (E0020, which `lint` runs too) refuses the tile.
    let e = lower(&small_model(), "tile = 64x65536", None).unwrap_err();
    assert!(e.contains("option `tile` is refused on instance `cam`"), "{e}");
}

#[test]
fn options_that_need_training_data_say_so() {
    let e = lower(&small_model(), "tile = auto", None).unwrap_err();
    assert!(e.contains("`auto` picks the geometry"), "{e}");
    // The report compares the monosparse layout whatever the hardware implements.
    for order in ["monosparse", "raw"] {
        let e = lower(&small_model(), &format!("order = {order}, column_order = rejection"), None)
            .unwrap_err();
        assert!(e.contains("invalid option `column_order`"), "{e}");
    }
}

#[test]
fn levels_beyond_the_cell_and_bad_geometries_are_errors() {
    let e = lower(&small_model(), "levels = 1024", None).unwrap_err();
    assert!(e.ends_with("levels = 1024 exceeds the 256 levels of cell `cam`"), "{e}");
    let e = lower(&small_model(), "tile = 0x4", None).unwrap_err();
    assert!(e.contains("0x4"), "{e}");
    let d = lower(&small_model(), "", None).unwrap();
    let wrong = ndarray::Array2::<f32>::zeros((2, 3));
    assert_eq!(
        tessera::cam::evaluate(&d, wrong.view()).unwrap_err().to_string(),
        "evaluation data: expected 2 features per sample, got 3"
    );
    let none = ndarray::Array2::<f32>::zeros((0, 2));
    assert!(tessera::cam::evaluate(&d, none.view()).is_err());
}
