//! Module-level name tables: what each module defines, imports and uses, with duplicate checks.
//!
//! Names visible in a module: its own items; every item defined in a file it imports (not that
//! file's own imports: imports are not transitive); items brought in by `use m::item;`; and
//! `m::item` for each `use m;`. A name may be bound only once among the first three.

use crate::diagnostics::{did_you_mean, Code, Diagnostic, Span};
use crate::dsl::ast::{self, Item};
use crate::dsl::program::{ModuleId, Program};
use std::collections::BTreeMap;

/// One top-level item of one module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemRef {
    pub module: ModuleId,
    pub index: usize,
}

impl ItemRef {
    pub fn get(self, prog: &Program) -> &Item {
        &prog.modules[self.module.0].ast.items[self.index]
    }
}

/// The name an item defines (uses, imports and error items define none).
pub fn item_name(item: &Item) -> Option<&ast::Ident> {
    match item {
        Item::Const(c) => Some(&c.name),
        Item::Component(c) => Some(&c.name),
        Item::Accelerator(a) => Some(&a.name),
        Item::Use(_) | Item::Import(_) | Item::Error => None,
    }
}

/// What kind of thing an item is, in messages.
pub fn item_kind(item: &Item) -> &'static str {
    match item {
        Item::Const(_) => "constant",
        Item::Component(_) => "component",
        Item::Accelerator(_) => "accelerator",
        Item::Use(_) | Item::Import(_) | Item::Error => "item",
    }
}

#[derive(Default)]
pub struct Scope {
    /// Items defined in the module itself.
    pub local: BTreeMap<String, ItemRef>,
    /// Bare names from `import` and `use m::item`, with the span of the bringing statement.
    pub imported: BTreeMap<String, (ItemRef, Span)>,
    /// Modules from `use m;`.
    pub modules: BTreeMap<String, ModuleId>,
}

impl Scope {
    /// A bare name.
    pub fn get(&self, name: &str) -> Option<ItemRef> {
        self.local.get(name).copied().or_else(|| self.imported.get(name).map(|(r, _)| *r))
    }
    /// Every bare name, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.local.keys().chain(self.imported.keys()).map(String::as_str)
    }
}

/// Builds the scope of every module; duplicates and unknown `use` items become diagnostics.
pub fn build_scopes(prog: &Program, diags: &mut Vec<Diagnostic>) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = prog
        .modules
        .iter()
        .enumerate()
        .map(|(m, module)| local_scope(ModuleId(m), &module.ast, diags))
        .collect();
    for (m, module) in prog.modules.iter().enumerate() {
        let mut imported: BTreeMap<String, (ItemRef, Span)> = BTreeMap::new();
        let mut modules = BTreeMap::new();
        for edge in &module.imports {
            for (name, r) in &scopes[edge.module.0].local {
                if !matches!(r.get(prog), Item::Accelerator(_)) {
                    bind(prog, &scopes[m], &mut imported, name, *r, edge.span, diags);
                }
            }
        }
        for edge in &module.uses {
            modules.insert(edge.alias.name.clone(), edge.module);
            let Some(item) = &edge.item else { continue };
            let target = &scopes[edge.module.0];
            match target.local.get(&item.name) {
                Some(r) => {
                    bind(prog, &scopes[m], &mut imported, &item.name, *r, edge.span, diags);
                }
                None => {
                    let cands = target.local.keys().map(String::as_str);
                    diags.push(
                        Diagnostic::error(
                            Code::E0004,
                            format!("module `{}` has no item `{}`", edge.alias.name, item.name),
                        )
                        .primary(item.span, "not found")
                        .help_opt(did_you_mean(&item.name, cands)),
                    );
                }
            }
        }
        scopes[m].imported = imported;
        scopes[m].modules = modules;
    }
    scopes
}

fn local_scope(m: ModuleId, file: &ast::File, diags: &mut Vec<Diagnostic>) -> Scope {
    let mut scope = Scope::default();
    let mut first: BTreeMap<String, Span> = BTreeMap::new();
    for (index, item) in file.items.iter().enumerate() {
        let Some(name) = item_name(item) else {
            continue;
        };
        if let Some(prev) = first.get(&name.name) {
            diags.push(
                Diagnostic::error(Code::E0005, format!("`{}` is defined twice", name.name))
                    .primary(name.span, "defined again here")
                    .secondary(*prev, "first defined here"),
            );
            continue;
        }
        first.insert(name.name.clone(), name.span);
        scope.local.insert(name.name.clone(), ItemRef { module: m, index });
    }
    scope
}

/// Binds an imported name, reporting a clash with a local item or another import.
fn bind(
    prog: &Program,
    scope: &Scope,
    imported: &mut BTreeMap<String, (ItemRef, Span)>,
    name: &str,
    r: ItemRef,
    site: Span,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(local) = scope.local.get(name) {
        if let Some(id) = item_name(local.get(prog)) {
            diags.push(
                Diagnostic::error(
                    Code::E0005,
                    format!("`{name}` is defined here and also imported"),
                )
                .primary(id.span, "defined here")
                .secondary(site, "this also brings a `{name}` into scope".replace("{name}", name))
                .help("rename one of them"),
            );
        }
        return;
    }
    match imported.get(name) {
        Some((prev, _)) if *prev == r => {}
        Some((_, prev_site)) => diags.push(
            Diagnostic::error(
                Code::E0005,
                format!("`{name}` is imported twice from different places"),
            )
            .primary(site, format!("brings another `{name}` into scope"))
            .secondary(*prev_site, "first brought into scope here"),
        ),
        None => {
            imported.insert(name.to_string(), (r, site));
        }
    }
}
