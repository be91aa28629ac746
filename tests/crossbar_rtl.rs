//! The final hardware graph's reference semantics: interpreting the graph `tessera compile`
//! lowers (host quantizer, programmed arrays, bias constants, requantization ops, host
//! dequantizer) gives, bit for bit, what the simulator built from the same nodes computes.
//! (The RTL lowered from those nodes is checked against the simulator by
//! `crossbar_verify.rs`.)

use ndarray::Array2;
use std::path::PathBuf;
use tessera::crossbar::dataset::ExampleData;
use tessera::crossbar::family::CROSSBAR_FAMILY;
use tessera::family::driver;
use tessera::flow::{Family, Job};
use tessera::ir::{interp, verify, Tensor, TensorData};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

fn job(name: &str) -> Job {
    let loaded = tessera::flow::catalog::load(&[example(name).join("accel.tess")]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    Job::new(loaded.accelerators.into_iter().next().unwrap(), None).unwrap()
}

#[test]
fn final_graph_interpreter_equals_the_simulator() {
    for name in ["digits_mlp", "breast_cancer_mlp"] {
        let job = job(name);
        let lowered = driver::lower(&CROSSBAR_FAMILY, &job).unwrap();
        let g = &lowered.graph;
        assert!(verify(g).is_ok(), "{:?}", verify(g));
        let c = CROSSBAR_FAMILY.compile(&job).unwrap();
        let data = ExampleData::load(&example(name)).unwrap();
        let xs = &data.x_test[..data.x_test.len().min(60)];
        let flat: Vec<f32> = xs.iter().flatten().copied().collect();
        let x = Array2::from_shape_vec((xs.len(), xs[0].len()), flat).unwrap();
        let sim = c.simulate(x.view()).unwrap().outputs;
        for (i, row) in xs.iter().enumerate() {
            let input = Tensor::f32(vec![row.len()], row.clone()).unwrap();
            let out = interp::run(g, &[input]).unwrap();
            let TensorData::F32(got) = &out[0].data else { panic!("{:?}", out[0].data) };
            let want: Vec<f32> = sim.row(i).to_vec();
            assert_eq!(got.as_slice(), want.as_slice(), "{name} sample {i}");
        }
    }
}
