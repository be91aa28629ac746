//! The `.tess` checker's view of the family registry: which mapping passes exist and what
//! options they take, handed to `crate::dsl` so the language names no driver.

use super::{families, family_for};
use crate::dsl::accel::{Instance, Mapping, Value};
use crate::dsl::mappings::{MappingCatalog, OptionSpec, Schema};
use crate::dsl::LoadOptions;
use crate::passes::options::canonical;
use std::collections::BTreeMap;

/// The catalog of the registered families.
pub struct Families;

/// The one instance, for [`LoadOptions::catalog`].
pub static CATALOG: Families = Families;

impl MappingCatalog for Families {
    fn schema(&self, pass: &str) -> Option<Schema> {
        let family = family_for(pass)?;
        let pipeline = family.pipeline();
        if pipeline.is_empty() {
            return None;
        }
        let options = crate::family::pipeline::schema(pipeline)
            .into_iter()
            .chain(family.options())
            .map(|o| OptionSpec {
                name: o.name.replace('-', "_"),
                kind: o.kind,
                help: o.help.to_string(),
            })
            .collect();
        let names: Vec<&str> = pipeline.iter().map(|p| p.name()).collect();
        Some(Schema {
            pass: pass.to_string(),
            description: format!("{}: {}", family.name(), names.join(" -> ")),
            options,
        })
    }
    fn check(&self, mapping: &Mapping, target: &Instance) -> Vec<(String, String)> {
        let Some(family) = family_for(&mapping.pass) else { return Vec::new() };
        let mut out = Vec::new();
        for p in family.pipeline() {
            let options: BTreeMap<String, Value> = mapping
                .options
                .iter()
                .map(|(k, v)| (canonical(k), v.clone()))
                .filter(|(k, _)| p.options().iter().any(|o| o.name == *k))
                .collect();
            if let Err(e) = p.check_mapping(&options, target) {
                out.push((e.option.replace('-', "_"), e.message));
            }
        }
        out
    }
    fn names(&self) -> Vec<&'static str> {
        families().iter().flat_map(|f| f.mapping_passes().iter().copied()).collect()
    }
}

/// Load options that know the registered families (what every command uses).
pub fn load_options() -> LoadOptions {
    LoadOptions { catalog: Some(&CATALOG), ..LoadOptions::default() }
}

/// [`crate::dsl::load`] with the registered families' mappings.
pub fn load(paths: &[std::path::PathBuf]) -> crate::dsl::Loaded {
    crate::dsl::load_with(paths, &load_options())
}

/// [`crate::dsl::load_sources`] with the registered families' mappings.
pub fn load_sources(sources: &[(&str, &str)]) -> crate::dsl::Loaded {
    crate::dsl::load_sources(sources, &load_options())
}
