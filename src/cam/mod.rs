//! Tree ensembles on analog CAM (MonoSparse-CAM): packing, quantization, tiling, simulation, energy.
//!
//! The flow, one module per step, each a pure function of its inputs:
//! [`pack`] (root-to-leaf paths to rows of float32 ranges) → [`quantize`] (rank-based codes per
//! feature, fixed-point leaves) → [`tile`] (arrays and a literal search schedule for the `raw`,
//! `reorder` and `monosparse` policies, [`cluster`] for the optimisations beyond the paper) →
//! [`sim`] (bit-exact search on codes with event counts; the reference) → [`energy`] (X-TIME's
//! aCAM model) → [`report`] (the `cam` section of `report.json`) and [`svg`] (tile maps).
//! The passes (`cam-pack` → `cam-quantize` → `cam-tile`, in [`passes`]) run these steps as IR
//! rewrites; after `cam-tile` the graph is the hardware ([`dialect`]), and [`hardware`] reads it
//! back into the tables the simulator and the RTL ([`rtl`]) are built from. [`fast`] reproduces [`sim`]
//! exactly from bit-mask tables, much faster, and [`batch`] runs it over a data set for the
//! three policies on all threads; [`evaluate`] uses it.

pub mod batch;
pub mod bits;
pub mod cluster;
pub mod design;
pub mod dialect;
pub mod energy;
pub mod error;
pub mod family;
pub mod fast;
pub mod hardware;
pub mod lossy;
pub mod merge;
pub mod pack;
pub mod passes;
pub mod quantize;
pub mod report;
pub mod rtl;
pub mod sim;
pub mod svg;
pub mod tile;

pub use design::{ByPolicy, CamDesign, TileChoice};
pub use error::CamError;
pub use report::{evaluate, CamEvaluation, CamReport};
