use ndarray::Array2;
use ndarray_npy::read_npy;
use std::path::Path;
use tessera::frontend::onnx::load_onnx;
use tessera::ir::{interp, print_graph, Tensor};

#[test]
fn scratch() {
    for m in ["q_teacher", "q_student"] {
        let model = load_onnx(Path::new(&format!("/tmp/h7/{m}.onnx"))).unwrap();
        let g = tessera::attention::import::import(&model).unwrap();
        println!("{}", print_graph(&g));
        let x: Array2<f32> = read_npy("/tmp/h7/qX.npy").unwrap();
        let r: Array2<f32> = read_npy(format!("/tmp/h7/{m}_out.npy")).unwrap();
        for i in 0..x.nrows() {
            let row = x.row(i).to_vec();
            let y = interp::run(&g, &[Tensor::f32(vec![64], row).unwrap()]).unwrap();
            let y = y[0].floats().unwrap();
            let err = y.iter().zip(r.row(i)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            println!("{m} {i} {err}");
        }
    }
}
