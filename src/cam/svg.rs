//! SVG tile maps (placeholder until written).
