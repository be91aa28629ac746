//! What the CAM passes and the realized design share: values per policy, the geometry choice
//! of `tile = auto`, and [`CamDesign`], the hardware graph read back for simulation and RTL.

use super::energy::CamPhysics;
use super::error::CamError;
use super::quantize::{Encoded, QuantizedCam};
use super::sim::{SearchEvents, Simulator};
use super::tile::{tile, Geometry, Policy, TileOptions, TiledCam};
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

/// A realized design: the hardware graph read back ([`super::hardware`]) with the cell physics,
/// and the layouts of the two policies the hardware does not implement, rebuilt from the
/// graph's rows for the report's comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamDesign {
    pub physics: CamPhysics,
    /// The policy the hardware implements.
    pub order: Policy,
    /// The layout options of the monosparse layout.
    pub tile_options: TileOptions,
    pub quantized: QuantizedCam,
    pub geometry: Geometry,
    pub tiled: ByPolicy<TiledCam>,
    /// Filled when the geometry was chosen by `tile = auto`.
    pub auto: Option<Vec<AutoCandidate>>,
}

impl CamDesign {
    /// The tiling the hardware implements (`order`).
    pub fn hardware(&self) -> &TiledCam {
        self.tiled.get(self.order)
    }
}

/// Training samples used to score `tile = auto` candidates.
const AUTO_SAMPLES: usize = 512;

/// Runs the input encoder over training samples (none when there are none).
pub fn encode_all(
    q: &QuantizedCam,
    train: Option<ArrayView2<f32>>,
) -> Result<Vec<Encoded>, CamError> {
    match train {
        Some(t) => t.rows().into_iter().map(|r| q.encode(&r.to_vec())).collect(),
        None => Ok(Vec::new()),
    }
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
