//! The mapping passes a `map MODEL -> INSTANCE using PASS(options);` may name, with their
//! options.
//!
//! For a family that is built, the schema comes from the family registry through a
//! [`MappingCatalog`] the caller hands the checker (`crate::flow::catalog`): the mapping's
//! options are the union of the options of the family's pipeline passes, so the linter and the
//! compiler can never disagree. The language itself names no driver. Families not built yet
//! keep a declared table here, so descriptions for them can already be written and checked.

use crate::dsl::accel::OptionKind;

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

/// What the checker learns about mapping passes from the compiler's family registry.
pub trait MappingCatalog: Sync {
    /// The schema of a built family's mapping pass, `None` for a name it does not know.
    fn schema(&self, pass: &str) -> Option<Schema>;
    /// Every mapping pass name of the built families.
    fn names(&self) -> Vec<&'static str>;
    /// What the family's passes would reject about a checked mapping on its target instance:
    /// `(option, message)` pairs, the option in `.tess` spelling.
    fn check(
        &self,
        _mapping: &crate::dsl::accel::Mapping,
        _target: &crate::dsl::accel::Instance,
    ) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The schema of a mapping pass, by the name written after `using`: from `catalog` for the
/// built families, then from the declared table.
pub fn mapping_schema(catalog: Option<&dyn MappingCatalog>, pass: &str) -> Option<Schema> {
    if let Some(s) = catalog.and_then(|c| c.schema(pass)) {
        return Some(s);
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
pub fn pass_names(catalog: Option<&dyn MappingCatalog>) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = catalog.map(|c| c.names()).unwrap_or_default();
    for (p, _, _) in DECLARED {
        if !names.contains(p) {
            names.push(p);
        }
    }
    names
}
