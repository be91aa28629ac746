//! The test-vector contract of the CAM RTL: what `in_data` and `out_data` hold, and the
//! vectors the simulator expects for a batch of inputs.

use super::shape;
use crate::backend::verilog::bits::Bits;
use crate::cam::design::CamDesign;
use crate::cam::error::CamError;
use crate::cam::sim::Simulator;
use ndarray::ArrayView2;

/// How `out_data` is laid out (lsb first): `outputs` signed totals of `acc_bits` each, then,
/// when `class_bits > 0`, the argmax class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLayout {
    pub outputs: usize,
    pub acc_bits: u32,
    /// `ceil(log2(outputs))` for models with several outputs, else 0 (no class field).
    pub class_bits: u32,
}

impl OutputLayout {
    /// The layout of a design's `out_data`.
    pub fn of(design: &CamDesign) -> OutputLayout {
        let q = &design.quantized;
        let outputs = q.num_outputs;
        OutputLayout {
            outputs,
            acc_bits: q.fixed.acc_bits,
            class_bits: if outputs > 1 { shape::index_bits(outputs) } else { 0 },
        }
    }

    pub fn width(&self) -> u32 {
        self.outputs as u32 * self.acc_bits + self.class_bits
    }

    /// Packs the totals (and their argmax, when the layout has a class field).
    pub fn pack(&self, totals: &[i64]) -> Result<Bits, CamError> {
        if totals.len() != self.outputs {
            return Err(CamError::Internal(format!(
                "{} totals for {} outputs",
                totals.len(),
                self.outputs
            )));
        }
        let mut b = Bits::zero(self.width());
        for (k, t) in totals.iter().enumerate() {
            let f = Bits::from_int(i128::from(*t), self.acc_bits, true)
                .map_err(|e| CamError::Internal(format!("total of output {k}: {e}")))?;
            b.set_field(k as u32 * self.acc_bits, &f);
        }
        if self.class_bits > 0 {
            let class = argmax(totals);
            let f = Bits::from_int(class as i128, self.class_bits, false)
                .map_err(|e| CamError::Internal(format!("class: {e}")))?;
            b.set_field(self.outputs as u32 * self.acc_bits, &f);
        }
        Ok(b)
    }

    /// The totals and the class (when present) of an output vector.
    pub fn unpack(&self, b: &Bits) -> (Vec<i64>, Option<usize>) {
        let totals = (0..self.outputs as u32)
            .map(|k| b.field(k * self.acc_bits, self.acc_bits).to_int(true).unwrap_or(0) as i64)
            .collect();
        let class = (self.class_bits > 0).then(|| {
            b.field(self.outputs as u32 * self.acc_bits, self.class_bits).to_int(false).unwrap_or(0)
                as usize
        });
        (totals, class)
    }
}

/// Index of the largest value, the lowest index on ties.
pub fn argmax(v: &[i64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Test vectors for the RTL of `design`: the float32 bit patterns of each sample of `x`, and
/// what [`crate::cam::sim`] computes for the hardware tiling, packed per [`OutputLayout`].
pub fn vectors(design: &CamDesign, x: ArrayView2<f32>) -> Result<(Vec<Bits>, Vec<Bits>), CamError> {
    let q = &design.quantized;
    if x.ncols() != q.num_features {
        return Err(CamError::SampleWidth {
            what: "test vectors".into(),
            expected: q.num_features,
            got: x.ncols(),
        });
    }
    if x.nrows() == 0 {
        return Err(CamError::BadOption {
            option: "data".into(),
            message: "no samples to make test vectors from".into(),
        });
    }
    let layout = OutputLayout::of(design);
    let sim = Simulator::new(q, design.hardware());
    let mut inputs = Vec::with_capacity(x.nrows());
    let mut expected = Vec::with_capacity(x.nrows());
    for row in x.rows() {
        let v = row.to_vec();
        let mut b = Bits::zero(32 * v.len() as u32);
        for (f, value) in v.iter().enumerate() {
            let word = Bits::from_int(i128::from(value.to_bits()), 32, false)
                .map_err(|e| CamError::Internal(format!("input bits: {e}")))?;
            b.set_field(32 * f as u32, &word);
        }
        inputs.push(b);
        expected.push(layout.pack(&sim.run_f32(&v)?.totals)?);
    }
    Ok((inputs, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_packs_totals_and_class() {
        let l = OutputLayout { outputs: 3, acc_bits: 4, class_bits: 2 };
        // -1 -> 0xf, 5 -> 0x5, 5 -> 0x5; the tie between outputs 1 and 2 goes to 1:
        // {2'b01, 4'h5, 4'h5, 4'hf} = 0b01_0101_0101_1111 = 0x155f.
        let b = l.pack(&[-1, 5, 5]).unwrap();
        assert_eq!(b.to_hex(), "155f");
        assert_eq!(l.unpack(&b), (vec![-1, 5, 5], Some(1)));
        assert!(l.pack(&[8, 0, 0]).is_err(), "8 does not fit 4 signed bits");
        assert!(l.pack(&[0, 0]).is_err());
        assert_eq!(argmax(&[-3, -3, -4]), 0);
    }
}
