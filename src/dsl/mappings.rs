//! The mapping passes a `map MODEL -> INSTANCE using PASS(options);` may name, with their
//! options. This table stands in for the pass registry until it exists; everything reads it
//! through [`mapping_schema`], so swapping in the registry touches one function.

/// The kind of value an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// A whole number within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// Any bare name.
    Symbol,
    /// One of the listed bare names.
    Enum(&'static [&'static str]),
    /// A `ROWSxCOLS` geometry or the symbol `auto`.
    DimsOrAuto,
}

impl OptionKind {
    /// How the kind is described in messages and docs.
    pub fn describe(self) -> String {
        match self {
            OptionKind::Int { min, max } => format!("int in {min}..={max}"),
            OptionKind::Bool => "bool".to_string(),
            OptionKind::Symbol => "symbol".to_string(),
            OptionKind::Enum(vs) => vs.join(" | "),
            OptionKind::DimsOrAuto => "ROWSxCOLS | auto".to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: OptionKind,
    pub help: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schema {
    pub pass: &'static str,
    pub description: &'static str,
    pub options: &'static [OptionSpec],
}

impl Schema {
    pub fn option(&self, name: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }
}

const fn int(min: i64, max: i64) -> OptionKind {
    OptionKind::Int { min, max }
}

const SCHEMAS: &[Schema] = &[
    Schema {
        pass: "cam_pack",
        description: "tree ensemble -> analog CAM rows, quantized and tiled",
        options: &[
            OptionSpec {
                name: "tile",
                kind: OptionKind::DimsOrAuto,
                help: "CAM array geometry, or auto to pick the cheapest",
            },
            OptionSpec {
                name: "order",
                kind: OptionKind::Enum(&["raw", "reorder", "monosparse"]),
                help: "tile search policy",
            },
            OptionSpec {
                name: "levels",
                kind: int(2, 65536),
                help: "levels per cell (256 for 8 bits)",
            },
            OptionSpec {
                name: "leaf_bits",
                kind: int(2, 32),
                help: "signed fixed-point width of leaf values",
            },
            OptionSpec {
                name: "cluster",
                kind: OptionKind::Bool,
                help: "cluster rows by shared features",
            },
            OptionSpec {
                name: "column_order",
                kind: OptionKind::Symbol,
                help: "column tile ordering strategy",
            },
        ],
    },
    Schema {
        pass: "crossbar_tile",
        description: "matrix layers -> bit-sliced crossbar tiles with shared ADCs",
        options: &[
            OptionSpec { name: "rows", kind: int(1, 65536), help: "array rows" },
            OptionSpec { name: "cols", kind: int(1, 65536), help: "array columns" },
            OptionSpec { name: "cell_bits", kind: int(1, 8), help: "bits stored per cell" },
            OptionSpec { name: "w_bits", kind: int(1, 32), help: "weight width" },
            OptionSpec {
                name: "a_bits",
                kind: int(1, 32),
                help: "activation width (input cycles)",
            },
            OptionSpec { name: "adc_bits", kind: int(1, 16), help: "ADC resolution" },
            OptionSpec {
                name: "cols_per_adc",
                kind: int(1, 65536),
                help: "columns sharing one ADC",
            },
            OptionSpec {
                name: "signed",
                kind: OptionKind::Enum(&["differential", "offset"]),
                help: "signed weight encoding",
            },
        ],
    },
    Schema {
        pass: "binarize",
        description: "attention Q and K -> sign bits with calibrated scales",
        options: &[OptionSpec {
            name: "per_head",
            kind: OptionKind::Bool,
            help: "one scale per head instead of per layer",
        }],
    },
    Schema {
        pass: "sparsify",
        description: "attention scores -> top-N per query before softmax",
        options: &[
            OptionSpec { name: "top_n", kind: int(1, 1 << 20), help: "scores kept per query" },
            OptionSpec {
                name: "hierarchical",
                kind: OptionKind::Bool,
                help: "two-level top-k as in CAMformer",
            },
        ],
    },
    Schema {
        pass: "lif_fixpoint",
        description: "LIF neurons -> fixed point with shift-based decay",
        options: &[
            OptionSpec { name: "bits", kind: int(2, 32), help: "state width" },
            OptionSpec {
                name: "shift",
                kind: int(0, 31),
                help: "decay shift k in alpha = 1 - 2^-k",
            },
        ],
    },
];

/// The schema of a mapping pass, by the name written after `using`.
pub fn mapping_schema(pass: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.pass == pass)
}

/// Every known pass name, for suggestions and docs.
pub fn pass_names() -> impl Iterator<Item = &'static str> {
    SCHEMAS.iter().map(|s| s.pass)
}
