//! `attn-quantize`: the model-level attention graph (after `binarize`/`sparsify`) becomes the
//! integer machine the hardware runs: the host's input quantizer, one `attn.*` node per machine
//! operation in schedule order (gathers, linear layers, attention cores, residual adds, layer
//! norms, activation tables), the host's dequantizer (`crate::attention::dialect`). Every number format is an option, so a `.tess` mapping sets them
//! (`binarize(top_n = 6, act_bits = 6)`); the defaults are the formats tessera has always used.

use crate::attention::calib::require_mha;
use crate::attention::dialect::add_program;
use crate::attention::quant::{build, QuantConfig};
use crate::dsl::accel::{Instance, Value};
use crate::ir::{Graph, Op};
use crate::passes::{
    written_number, DefaultValue, OptionKind, OptionProblem, Pass, PassContext, PassError,
    PassOption,
};
use std::collections::BTreeMap;

/// Quantizes the model with the calibration data and replaces it by its integer program.
pub struct AttnQuantize;

// Defaults must equal `QuantConfig::default()` (checked by a test below).
const OPTIONS: &[PassOption] = &[
    PassOption {
        name: "act-bits",
        kind: OptionKind::Int { min: 2, max: 16 },
        default: DefaultValue::Int(8),
        help: "bits of the activation codes linear layers and tables read",
    },
    PassOption {
        name: "resid-bits",
        kind: OptionKind::Int { min: 2, max: 24 },
        default: DefaultValue::Int(16),
        help: "bits of the residual-path codes (read by adds, layer norms, concatenations)",
    },
    PassOption {
        name: "prob-bits",
        kind: OptionKind::Int { min: 1, max: 16 },
        default: DefaultValue::Int(10),
        help: "fraction bits of the attention probabilities",
    },
    PassOption {
        name: "exp-bits",
        kind: OptionKind::Int { min: 1, max: 24 },
        default: DefaultValue::Int(15),
        help: "fraction bits of the softmax exponent table",
    },
    PassOption {
        name: "std-lut-len",
        kind: OptionKind::Int { min: 2, max: 4096 },
        default: DefaultValue::Int(256),
        help: "standard attention: entries of the exponent table",
    },
    PassOption {
        name: "std-lut-steps",
        kind: OptionKind::Real,
        default: DefaultValue::Real(16.0),
        help: "standard attention: exponent table steps per logit unit (positive)",
    },
];

impl AttnQuantize {
    /// The number formats the options ask for.
    fn config(&self, cx: &PassContext) -> Result<QuantConfig, PassError> {
        let bits = |name: &str| -> Result<u32, PassError> {
            // The option kinds bound every integer, so the conversions cannot fail.
            u32::try_from(cx.int(name)?).map_err(|e| self.bad(name, e.to_string()))
        };
        let steps = cx.real("std-lut-steps")?;
        check_steps(steps).map_err(|p| self.bad(&p.option, p.message))?;
        Ok(QuantConfig {
            act_bits: bits("act-bits")?,
            resid_bits: bits("resid-bits")?,
            prob_bits: bits("prob-bits")?,
            exp_bits: bits("exp-bits")?,
            std_lut_len: bits("std-lut-len")? as usize,
            std_lut_steps: steps,
        })
    }

    fn bad(&self, option: &str, message: String) -> PassError {
        PassError::BadOption { pass: self.name().into(), option: option.into(), message }
    }
}

/// The exponent table's step rule, shared by [`Pass::check_mapping`] (so `lint` reports it with
/// the option's span) and [`Pass::run`].
fn check_steps(steps: f64) -> Result<(), OptionProblem> {
    if steps > 0.0 && steps.is_finite() {
        Ok(())
    } else {
        Err(OptionProblem {
            option: "std-lut-steps".into(),
            message: format!("std-lut-steps must be positive, got {steps}"),
        })
    }
}

impl Pass for AttnQuantize {
    fn name(&self) -> &'static str {
        "attn-quantize"
    }
    fn description(&self) -> &'static str {
        "Quantize the attention model with the calibration data into its integer machine: one attn.* unit per operation, in schedule order."
    }
    fn options(&self) -> &'static [PassOption] {
        OPTIONS
    }
    fn check_mapping(
        &self,
        options: &BTreeMap<String, Value>,
        _target: &Instance,
    ) -> Result<(), OptionProblem> {
        written_number(options, "std-lut-steps").map_or(Ok(()), check_steps)
    }
    fn preconditions(&self, graph: &Graph) -> Result<(), crate::passes::Unmet> {
        require_mha(graph)
    }
    fn run(&self, graph: &Graph, cx: &PassContext) -> Result<Graph, PassError> {
        let fail = |m: String| PassError::failed(self.name(), m);
        let config = self.config(cx)?;
        let calib = cx.calibration.ok_or_else(|| {
            fail("needs calibration data to set the activation scales (give --data)".into())
        })?;
        let (&[input], &[output]) = (graph.inputs(), graph.outputs()) else {
            return Err(fail("the graph must have one input and one output".into()));
        };
        let program = build(graph, calib, &config).map_err(|e| fail(e.to_string()))?;
        let Op::Input { name: in_name, ty: in_ty } = graph.op(input) else {
            return Err(fail("the graph input is not an input op".into()));
        };
        let Op::Output { name: out_name } = graph.op(output) else {
            return Err(fail("the graph output is not an output op".into()));
        };
        let out_shape = graph.ty(output).shape.clone();
        let mut g = Graph::new();
        let build_err = |e: crate::ir::GraphError| fail(e.to_string());
        let x = g.add_input(in_name, in_ty.clone()).map_err(build_err)?;
        let p = add_program(&mut g, x, &program, config, out_shape)
            .map_err(|e| PassError::failed_with(self.name(), e))?;
        g.add_output(out_name, p).map_err(build_err)?;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_defaults_are_the_default_formats() {
        let d = QuantConfig::default();
        let get = |n: &str| OPTIONS.iter().find(|o| o.name == n).map(|o| o.default);
        assert_eq!(get("act-bits"), Some(DefaultValue::Int(i64::from(d.act_bits))));
        assert_eq!(get("resid-bits"), Some(DefaultValue::Int(i64::from(d.resid_bits))));
        assert_eq!(get("prob-bits"), Some(DefaultValue::Int(i64::from(d.prob_bits))));
        assert_eq!(get("exp-bits"), Some(DefaultValue::Int(i64::from(d.exp_bits))));
        assert_eq!(get("std-lut-len"), Some(DefaultValue::Int(d.std_lut_len as i64)));
        assert_eq!(get("std-lut-steps"), Some(DefaultValue::Real(d.std_lut_steps)));
    }
}
