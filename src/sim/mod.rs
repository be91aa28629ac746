//! Behavioral simulation core: event counting and the cost model.
