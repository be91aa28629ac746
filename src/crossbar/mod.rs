//! Neural networks on compute-in-memory crossbars: quantization, tiling onto arrays with
//! bit-sliced weights and shared ADCs, device nonidealities, a bit-exact datapath simulator with
//! event counts, and a NeuroSim-style cost model. Pure functions over matrices; the pass manager
//! wraps them as IR passes.

pub mod adc;
pub mod cost;
pub mod dataset;
pub mod device;
pub mod lower_ir;
pub mod mlp;
pub mod quant;
pub mod sim;
pub mod sweep;
pub mod tile;
