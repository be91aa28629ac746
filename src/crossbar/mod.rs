//! Neural networks on compute-in-memory crossbars: quantization, tiling onto arrays with
//! bit-sliced weights and shared ADCs, device nonidealities, a bit-exact datapath simulator with
//! event counts, and a NeuroSim-style cost model. Pure functions over matrices; the pass manager
//! wraps them as IR passes.

pub mod adc;
pub mod cost;
pub mod dataset;
pub mod device;
pub mod dialect;
pub mod lossy;
pub mod lower_ir;
pub mod mlp;
pub mod passes;
pub mod quant;
pub mod report;
pub mod representable;
pub mod rtl;
pub mod sim;
pub mod svg;
pub mod sweep;
pub mod tile;

use crate::frontend::onnx::load_onnx;
use std::path::Path;

/// The whole flow for one ONNX file: load, extract the dense chain, quantize (calibrating on
/// `calib`), place and program. What a `crossbar-tile` pass wraps.
pub fn compile_onnx(
    model: &Path,
    calib: &[Vec<f32>],
    quant: &quant::QuantConfig,
    xbar: &tile::XbarConfig,
    device: &device::DeviceConfig,
) -> Result<sim::CrossbarNet, String> {
    let m = load_onnx(model).map_err(|e| e.to_string())?;
    let mlp = mlp::extract_mlp(&m)?;
    let q = quant::quantize(&mlp, calib, quant)?;
    sim::CrossbarNet::build(&q, xbar, device)
}
pub mod family;
pub mod graph;
pub mod ops;
