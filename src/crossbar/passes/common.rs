//! Helpers the crossbar-family passes share: calibration rows and the layer-stage
//! precondition.

use crate::ir::{Graph, Op};
use crate::passes::{PassContext, PassError, Unmet};

/// The calibration samples as rows of `features` values; the error says where they come from.
pub fn calibration_rows(
    pass: &str,
    cx: &PassContext,
    features: usize,
    why: &str,
) -> Result<Vec<Vec<f32>>, PassError> {
    let c = cx.calibration.ok_or_else(|| {
        PassError::failed(
            pass,
            format!(
                "{why} needs calibration data: put X_calib.npy (or X_train.npy) beside the model \
                 or pass --calib"
            ),
        )
    })?;
    if c.ncols() != features || c.nrows() == 0 {
        return Err(PassError::failed(
            pass,
            format!(
                "the calibration data are {} samples of {} features; the model takes {features}",
                c.nrows(),
                c.ncols()
            ),
        ));
    }
    Ok(c.rows().into_iter().map(|r| r.to_vec()).collect())
}

/// Precondition: every layer of the graph is at `want` (`xbar.dense`, an `xbar.readout`), and there
/// is at least one.
pub fn require_stage(
    g: &Graph,
    want: fn(&Op) -> bool,
    what: &str,
    provider: &str,
) -> Result<(), Unmet> {
    let ops: Vec<&Op> = g.node_ids().into_iter().map(|id| g.op(id)).collect();
    let layers = ops
        .iter()
        .filter(|op| {
            op.dialect::<crate::crossbar::dialect::XbarDense>().is_some()
                || op.dialect::<crate::crossbar::dialect::XbarReadout>().is_some()
        })
        .count();
    let ready = ops.iter().filter(|op| want(op)).count();
    if ready == 0 || ready != layers {
        return Err(Unmet::missing(what, provider));
    }
    Ok(())
}
