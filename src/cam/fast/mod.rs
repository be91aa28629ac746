//! The fast path of the CAM simulator: the same results and event counts as
//! [`crate::cam::sim::Simulator`] (the reference, kept for its plainness), bit for bit, from
//! bit-mask tables instead of cell-by-cell comparisons.
//!
//! [`codes`] (the shared code space, encoder and care cells of a quantized CAM) →
//! [`layout`] (what a tiling's schedule searches, its input-independent events, completeness) →
//! [`tables`] (per array and care column, code → mask of matching rows) →
//! [`sim`] ([`FastSimulator`]: the schedule walked with masks and popcounts).
//! [`crate::cam::batch`] runs it over data sets on all threads.

pub mod codes;
pub mod layout;
pub mod sim;
pub mod tables;

pub use codes::{EncoderEvents, SparseCam};
pub use sim::{FastSimulator, Scratch};
pub use tables::TableMode;
