//! `quantize`: a float dense-layer chain → integer layers with calibrated scales.

use super::common::calibration_rows;
use crate::crossbar::error::XbarError;
use crate::crossbar::graph::{add_quantized, io};
use crate::crossbar::quant::{quantize_graph, Calibration, QuantConfig, ScaleGranularity};
use crate::ir::{Graph, Op, TensorType};
use crate::passes::{DefaultValue, OptionKind, Pass, PassContext, PassError, PassOption};

/// Quantizes weights, biases and activations to the integer semantics the crossbar, the
/// simulator and the RTL share (`crate::crossbar::quant`); trained QONNX quantizers keep their
/// scales and widths. Separate from placement so the integer network can be dumped and checked
/// against the float one before any array or device is involved.
pub struct Quantize;

const GRANULARITY: OptionKind = OptionKind::Symbol(&["per_channel", "per_tensor"]);

static OPTIONS: &[PassOption] = &[
    PassOption {
        name: "w-bits",
        kind: OptionKind::Int { min: 2, max: 16 },
        default: DefaultValue::Int(8),
        help: "weight width: symmetric codes in +-(2^(w-1) - 1)",
    },
    PassOption {
        name: "a-bits",
        kind: OptionKind::Int { min: 1, max: 16 },
        default: DefaultValue::Int(8),
        help: "activation width: input bit planes per layer",
    },
    PassOption {
        name: "weight-scale",
        kind: GRANULARITY,
        default: DefaultValue::Symbol("per_channel"),
        help: "one weight scale per output channel or per layer",
    },
    PassOption {
        name: "act-scale",
        kind: GRANULARITY,
        default: DefaultValue::Symbol("per_channel"),
        help: "hidden activation scales per channel (folded into the next weights and \
               per-channel requantization multipliers) or one per layer",
    },
    PassOption {
        name: "input-scale",
        kind: GRANULARITY,
        default: DefaultValue::Symbol("per_channel"),
        help: "graph input scales per feature (applied by the host, folded into the first \
               weights) or one for all features",
    },
    PassOption {
        name: "act-percentile",
        kind: OptionKind::Real,
        default: DefaultValue::Real(100.0),
        help: "activation range calibration point: 100 takes the largest magnitude on the \
               calibration data, lower values clip outliers",
    },
];

fn granularity(s: &str) -> ScaleGranularity {
    if s == "per_tensor" {
        ScaleGranularity::PerTensor
    } else {
        ScaleGranularity::PerChannel
    }
}

impl Pass for Quantize {
    fn name(&self) -> &'static str {
        "quantize"
    }
    fn description(&self) -> &'static str {
        "Quantize a dense-layer chain to integers: symmetric weights, calibrated activation \
         ranges, fixed-point requantization multipliers between layers; trained QONNX \
         quantizers keep their scales."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn preconditions(&self, g: &Graph) -> Result<(), crate::passes::Unmet> {
        crate::passes::rewrite::require_op(
            g,
            |op| matches!(op, Op::MatMul),
            "float `matmul` (a dense layer)",
            "the ONNX frontend",
        )
    }
    fn run(&self, g: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let fail = |m: String| PassError::failed(self.name(), m);
        let xfail = |e: XbarError| PassError::failed_with(self.name(), e);
        let p = cx.real("act-percentile")?;
        if !(p > 0.0 && p <= 100.0) {
            return Err(fail(format!("act-percentile = {p} must be in (0, 100]")));
        }
        let cfg = QuantConfig {
            w_bits: cx.int("w-bits")? as u32,
            a_bits: cx.int("a-bits")? as u32,
            weight_scale: granularity(cx.symbol("weight-scale")?),
            act_scale: granularity(cx.symbol("act-scale")?),
            input_scale: granularity(cx.symbol("input-scale")?),
            calibration: if p >= 100.0 { Calibration::Max } else { Calibration::Percentile(p) },
        };
        let (i, o) = io(g).map_err(xfail)?;
        let (Op::Input { name: input, ty }, Op::Output { name: output }) = (g.op(i), g.op(o))
        else {
            return Err(fail(
                "the graph's input and output nodes are not `input` and `output`".into(),
            ));
        };
        let features = ty.numel();
        let calib = calibration_rows(self.name(), cx, features, "calibrating activation ranges")?;
        let (_, q) =
            quantize_graph(g, &calib, &cfg).map_err(|e| PassError::failed_with(self.name(), e))?;
        // The float chain between the graph's input and output becomes the integer network's
        // nodes. Built afresh rather than edited: a copy of the float graph would hold every
        // weight a second time.
        let mut out = Graph::new();
        let ge = |e: crate::ir::GraphError| fail(e.to_string());
        // The integer network takes the features flat, whatever shape the model declares
        // (`[4, 4]` before a Flatten is `[16]` here): the host quantizes a row of features.
        let x = out.add_input(input, TensorType::f32(vec![features])).map_err(ge)?;
        let y = add_quantized(&mut out, x, q).map_err(xfail)?;
        out.add_output(output, y).map_err(ge)?;
        Ok(out)
    }
}
