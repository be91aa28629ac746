//! Behavioral simulation core: event counting and the cost model.
//!
//! Each family's simulator lives with its family (`crate::cam`, ...) and is bit-exact with the
//! RTL; what they share is here: the [`cost::Ledger`] that prices counted events.

pub mod cost;
