//! The mapping passes a `map MODEL -> INSTANCE using PASS(options);` may name, with their
//! options.
//!
//! For a family that is built, the schema comes from the pass registry: the mapping's options
//! are the union of the options of the family's pipeline passes (`crate::flow`), so the linter
//! and the compiler can never disagree. Families not built yet keep a declared table here, so
//! descriptions for them can already be written and checked.

use crate::passes::OptionKind;

/// One option a mapping accepts, spelled as `.tess` writes it (`leaf_bits`).
#[derive(Clone, Debug, PartialEq)]
pub struct OptionSpec {
    pub name: String,
    pub kind: OptionKind,
    pub help: String,
}

/// What a mapping pass accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub pass: String,
    pub description: String,
    pub options: Vec<OptionSpec>,
}

impl Schema {
    pub fn option(&self, name: &str) -> Option<&OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }
}

/// How an option kind is described in messages and docs.
pub fn describe(kind: OptionKind) -> String {
    match kind {
        OptionKind::Int { min, max } => format!("int in {min}..={max}"),
        OptionKind::Bool => "bool".to_string(),
        OptionKind::Symbol(vs) => vs.join(" | "),
        OptionKind::Dims => "ROWSxCOLS".to_string(),
        OptionKind::DimsOr(vs) => format!("ROWSxCOLS | {}", vs.join(" | ")),
        OptionKind::Real => "real".to_string(),
    }
}

/// A declared option of a family that is not built yet.
struct Declared {
    name: &'static str,
    kind: OptionKind,
    help: &'static str,
}

const fn int(min: i64, max: i64) -> OptionKind {
    OptionKind::Int { min, max }
}

/// Mapping passes of families not built yet, with their options.
const DECLARED: &[(&str, &str, &[Declared])] = &[
    (
        "crossbar_tile",
        "matrix layers -> bit-sliced crossbar tiles with shared ADCs",
        &[
            Declared { name: "rows", kind: int(1, 65536), help: "array rows" },
            Declared { name: "cols", kind: int(1, 65536), help: "array columns" },
            Declared { name: "cell_bits", kind: int(1, 8), help: "bits stored per cell" },
            Declared { name: "w_bits", kind: int(1, 32), help: "weight width" },
            Declared { name: "a_bits", kind: int(1, 32), help: "activation width (input cycles)" },
            Declared { name: "adc_bits", kind: int(1, 16), help: "ADC resolution" },
            Declared { name: "cols_per_adc", kind: int(1, 65536), help: "columns sharing one ADC" },
            Declared {
                name: "signed",
                kind: OptionKind::Symbol(&["differential", "offset"]),
                help: "signed weight encoding",
            },
        ],
    ),
    (
        "binarize",
        "attention Q and K -> sign bits with calibrated scales",
        &[Declared {
            name: "per_head",
            kind: OptionKind::Bool,
            help: "one scale per head instead of per layer",
        }],
    ),
    (
        "sparsify",
        "attention scores -> top-N per query before softmax",
        &[
            Declared { name: "top_n", kind: int(1, 1 << 20), help: "scores kept per query" },
            Declared {
                name: "hierarchical",
                kind: OptionKind::Bool,
                help: "two-level top-k as in CAMformer",
            },
        ],
    ),
    (
        "lif_fixpoint",
        "LIF neurons -> fixed point with shift-based decay",
        &[
            Declared { name: "bits", kind: int(2, 32), help: "state width" },
            Declared { name: "shift", kind: int(0, 31), help: "decay shift k in alpha = 1 - 2^-k" },
        ],
    ),
];

/// The schema of a mapping pass, by the name written after `using`.
pub fn mapping_schema(pass: &str) -> Option<Schema> {
    if let Some(family) = crate::flow::family_for(pass) {
        let pipeline = family.pipeline();
        if !pipeline.is_empty() {
            let options = crate::flow::pipeline::schema(pipeline)
                .into_iter()
                .map(|o| OptionSpec {
                    name: o.name.replace('-', "_"),
                    kind: o.kind,
                    help: o.help.to_string(),
                })
                .collect();
            return Some(Schema {
                pass: pass.to_string(),
                description: format!("{}: {}", family.name(), pipeline.join(" -> ")),
                options,
            });
        }
    }
    DECLARED.iter().find(|(p, _, _)| *p == pass).map(|(p, d, opts)| Schema {
        pass: p.to_string(),
        description: d.to_string(),
        options: opts
            .iter()
            .map(|o| OptionSpec {
                name: o.name.to_string(),
                kind: o.kind,
                help: o.help.to_string(),
            })
            .collect(),
    })
}

/// Every mapping pass name, for suggestions and docs.
pub fn pass_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> =
        crate::flow::families().iter().flat_map(|f| f.mapping_passes().iter().copied()).collect();
    for (p, _, _) in DECLARED {
        if !names.contains(p) {
            names.push(p);
        }
    }
    names
}
