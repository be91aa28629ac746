//! Tree ensembles on analog CAM (MonoSparse-CAM): packing, quantization, tiling, simulation, energy.
