//! The whole CAM flow for one model and one cell: pack, quantize, choose the geometry, tile for
//! the three policies. The lead's IR passes wrap these steps; [`compile`] is the one-call form.

use super::energy::CamPhysics;
use super::error::CamError;
use super::pack::{pack, PackedCam};
use super::quantize::{quantize, Encoded, QuantConfig, QuantizedCam};
use super::sim::{SearchEvents, Simulator};
use super::tile::{tile, Geometry, Policy, TileOptions, TiledCam};
use crate::dsl::accel::Instance;
use crate::frontend::trees::TreeEnsemble;
use ndarray::ArrayView2;
use serde::Serialize;

/// One value per policy, serialised as `{raw, reorder, monosparse}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ByPolicy<T> {
    pub raw: T,
    pub reorder: T,
    pub monosparse: T,
}

impl<T> ByPolicy<T> {
    pub fn get(&self, p: Policy) -> &T {
        match p {
            Policy::Raw => &self.raw,
            Policy::Reorder => &self.reorder,
            Policy::Monosparse => &self.monosparse,
        }
    }
    pub fn try_map<U, E>(
        &self,
        mut f: impl FnMut(Policy, &T) -> Result<U, E>,
    ) -> Result<ByPolicy<U>, E> {
        Ok(ByPolicy {
            raw: f(Policy::Raw, &self.raw)?,
            reorder: f(Policy::Reorder, &self.reorder)?,
            monosparse: f(Policy::Monosparse, &self.monosparse)?,
        })
    }
    pub fn map<U>(&self, mut f: impl FnMut(Policy, &T) -> U) -> ByPolicy<U> {
        ByPolicy {
            raw: f(Policy::Raw, &self.raw),
            reorder: f(Policy::Reorder, &self.reorder),
            monosparse: f(Policy::Monosparse, &self.monosparse),
        }
    }
}

/// How to pick the array geometry (`tile = 24x48` or `tile = auto`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TileChoice {
    /// The cell's own `rows x cols`.
    Cell,
    Fixed(Geometry),
    /// The candidate with the least mean monosparse energy on the training set.
    Auto(Vec<Geometry>),
}

/// The options of the `cam_pack` mapping.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamOptions {
    pub tile: TileChoice,
    /// The policy the generated hardware implements (its schedule is what the RTL follows).
    pub order: Policy,
    /// Cell levels to use; `None` means the cell's `levels`. May not exceed them.
    pub levels: Option<u32>,
    pub leaf_bits: u32,
    pub tile_options: TileOptions,
}

impl Default for CamOptions {
    fn default() -> Self {
        CamOptions {
            tile: TileChoice::Cell,
            order: Policy::Monosparse,
            levels: None,
            leaf_bits: 16,
            tile_options: TileOptions::default(),
        }
    }
}

/// Candidate geometries for `tile = auto`: the 6T2M array stays reliable up to 64 columns and
/// 512 rows (Li et al. 2020, Fig. 5), so the list stays inside that.
pub fn default_auto_candidates() -> Vec<Geometry> {
    let mut v = Vec::new();
    for rows in [16, 24, 32, 64, 128, 256] {
        for cols in [8, 16, 24, 32, 48, 64] {
            v.push(Geometry { rows, cols });
        }
    }
    v
}

/// A geometry tried by `tile = auto` and its mean monosparse energy (None: not buildable).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AutoCandidate {
    pub geometry: String,
    pub energy_pj: Option<f64>,
}

/// Everything the later stages need: the packed, quantized and tiled CAM.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamDesign {
    pub physics: CamPhysics,
    pub options: CamOptions,
    pub packed: PackedCam,
    pub quantized: QuantizedCam,
    pub geometry: Geometry,
    pub tiled: ByPolicy<TiledCam>,
    /// Filled when the geometry was chosen by `tile = auto`.
    pub auto: Option<Vec<AutoCandidate>>,
}

impl CamDesign {
    /// The tiling the hardware implements (`options.order`).
    pub fn hardware(&self) -> &TiledCam {
        self.tiled.get(self.options.order)
    }
}

/// Training samples used to score `tile = auto` candidates.
const AUTO_SAMPLES: usize = 512;

/// Packs, quantizes and tiles `model` for the aCAM cell instance `cell`.
pub fn compile(
    model: &TreeEnsemble,
    cell: &Instance,
    opts: &CamOptions,
    train: Option<ArrayView2<f32>>,
) -> Result<CamDesign, CamError> {
    let physics = CamPhysics::from_instance(cell)?;
    let levels = opts.levels.unwrap_or(physics.levels);
    if levels > physics.levels {
        return Err(CamError::BadOption {
            option: "levels".into(),
            message: format!(
                "{levels} exceeds the {} levels of cell `{}`",
                physics.levels, cell.name
            ),
        });
    }
    let packed = pack(model)?;
    let quantized = quantize(&packed, &QuantConfig { levels, leaf_bits: opts.leaf_bits }, train)?;
    layout(packed, quantized, physics, opts, train)
}

/// The tiling step on its own (the `cam-tile` pass): chooses the geometry and lays the quantized
/// rows out for the three policies.
pub fn layout(
    packed: PackedCam,
    quantized: QuantizedCam,
    physics: CamPhysics,
    opts: &CamOptions,
    train: Option<ArrayView2<f32>>,
) -> Result<CamDesign, CamError> {
    let encoded: Vec<Encoded> = match &train {
        Some(t) => {
            t.rows().into_iter().map(|r| quantized.encode(&r.to_vec())).collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    let (geometry, auto) = match &opts.tile {
        TileChoice::Cell => (Geometry::new(physics.rows, physics.cols)?, None),
        TileChoice::Fixed(g) => (Geometry::new(g.rows, g.cols)?, None),
        TileChoice::Auto(candidates) => {
            let (g, scored) =
                choose_geometry(&quantized, &physics, candidates, &opts.tile_options, &encoded)?;
            (g, Some(scored))
        }
    };
    physics.costs(geometry)?;
    let layout = |p: Policy| tile(&quantized, geometry, p, &opts.tile_options, &encoded);
    let tiled = ByPolicy {
        raw: layout(Policy::Raw)?,
        reorder: layout(Policy::Reorder)?,
        monosparse: layout(Policy::Monosparse)?,
    };
    Ok(CamDesign { physics, options: opts.clone(), packed, quantized, geometry, tiled, auto })
}

/// Mean monosparse energy (pJ per inference) of a tiling over encoded samples.
pub fn mean_energy(
    q: &QuantizedCam,
    physics: &CamPhysics,
    t: &TiledCam,
    samples: &[Encoded],
) -> Result<f64, CamError> {
    let sim = Simulator::new(q, t);
    let mut ev = SearchEvents::default();
    for e in samples {
        ev += sim.run(e).events;
    }
    let e = physics.energy(t.geometry, &ev)?;
    Ok(e.total() / samples.len().max(1) as f64)
}

/// `tile = auto`: the candidate with the least mean monosparse energy on the training samples.
pub fn choose_geometry(
    q: &QuantizedCam,
    physics: &CamPhysics,
    candidates: &[Geometry],
    opts: &TileOptions,
    train: &[Encoded],
) -> Result<(Geometry, Vec<AutoCandidate>), CamError> {
    if train.is_empty() {
        return Err(CamError::BadOption {
            option: "tile".into(),
            message: "`auto` picks the geometry with the least energy on training data, so it needs training data".into(),
        });
    }
    let sample = &train[..train.len().min(AUTO_SAMPLES)];
    let mut best: Option<(f64, Geometry)> = None;
    let mut scored = Vec::new();
    for g in candidates {
        let energy = match physics.costs(*g) {
            Err(_) => None,
            Ok(_) => {
                let t = tile(q, *g, Policy::Monosparse, opts, sample)?;
                Some(mean_energy(q, physics, &t, sample)?)
            }
        };
        if let Some(e) = energy {
            if best.is_none_or(|(b, _)| e < b) {
                best = Some((e, *g));
            }
        }
        scored.push(AutoCandidate { geometry: g.to_string(), energy_pj: energy });
    }
    match best {
        Some((_, g)) => Ok((g, scored)),
        None => Err(CamError::BadOption {
            option: "tile".into(),
            message: "no candidate geometry is buildable with this cell (R_out <= 0 for all)"
                .into(),
        }),
    }
}
