//! Neural networks on compute-in-memory crossbars: quantization, tiling onto arrays with
//! bit-sliced weights and shared ADCs, device nonidealities, a bit-exact datapath simulator with
//! event counts, and a NeuroSim-style cost model. Pure functions over matrices; the pass manager
//! wraps them as IR passes.

pub mod adc;
pub mod bytegemm;
pub mod bytepath;
pub mod cellpack;
pub mod codepath;
pub mod cost;
pub mod dataset;
pub mod device;
pub mod dialect;
pub mod dots;
pub mod error;
pub mod family;
pub mod graph;
pub mod kernel;
pub mod lossy;
pub mod mlp;
pub mod ops;
pub mod passes;
pub mod quant;
pub mod report;
pub mod representable;
pub mod rowcount;
pub mod rtl;
pub mod sim;
pub mod svg;
pub mod sweep;
pub mod tile;
