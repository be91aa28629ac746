//! Loading: reads the files named on the command line, follows `import "..."` and `use m;`,
//! parses every module once, and detects import cycles.
//!
//! File names are kept exactly as given (an import's name is its parent's directory joined with
//! the written path) so diagnostics print relative paths; canonical paths serve only to
//! recognise a file reached twice. Stdlib modules are named `<stdlib>/NAME.tess`.

use crate::diagnostics::{did_you_mean, Code, Diagnostic, FileId, SourceFiles, Span};
use crate::dsl::ast;
use crate::dsl::lexer::MAX_SOURCE_BYTES;
use crate::dsl::parser::parse;
use crate::stdlib;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Index of a module in [`Program::modules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub usize);

/// Longest chain of nested imports followed.
pub const MAX_IMPORT_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A stdlib module, by name.
    Stdlib(String),
    /// A user file: the path as given (relative stays relative) and its canonical form.
    User { given: PathBuf, canonical: PathBuf },
}

/// A resolved `use` item.
#[derive(Clone, Debug)]
pub struct UseEdge {
    pub module: ModuleId,
    /// `Some` for `use m::item;`.
    pub item: Option<ast::Ident>,
    /// The name under which the module is visible (`m` in `m::x`).
    pub alias: ast::Ident,
    pub span: Span,
}

/// A resolved `import "file";`.
#[derive(Clone, Debug)]
pub struct ImportEdge {
    pub module: ModuleId,
    pub span: Span,
}

pub struct Module {
    pub file: FileId,
    pub origin: Origin,
    pub ast: ast::File,
    pub uses: Vec<UseEdge>,
    pub imports: Vec<ImportEdge>,
}

impl Module {
    /// The directory that relative paths written in this module are resolved against.
    pub fn dir(&self) -> Option<PathBuf> {
        match &self.origin {
            Origin::User { given, .. } => {
                Some(given.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            Origin::Stdlib(_) => None,
        }
    }
    pub fn stdlib_name(&self) -> Option<&str> {
        match &self.origin {
            Origin::Stdlib(n) => Some(n),
            Origin::User { .. } => None,
        }
    }
}

/// Every module reachable from the roots, parsed.
pub struct Program {
    pub files: SourceFiles,
    pub modules: Vec<Module>,
    /// The modules named on the command line, in order, without duplicates.
    pub roots: Vec<ModuleId>,
    pub diagnostics: Vec<Diagnostic>,
    /// Command-line files that could not be read (the lint exits 2 for them).
    pub unreadable: Vec<PathBuf>,
}

/// An in-memory root, for tests and tools that hold the text already.
pub struct MemorySource {
    pub name: String,
    pub text: String,
}

struct Loader {
    prog: Program,
    by_canonical: BTreeMap<PathBuf, ModuleId>,
    stdlib_loaded: BTreeMap<String, ModuleId>,
    /// Files being loaded (depth-first), with the import in each that leads to the next.
    stack: Vec<(PathBuf, Option<Span>)>,
}

/// Loads the given files and everything they import or use.
pub fn load_program(paths: &[PathBuf], memory: &[MemorySource]) -> Program {
    let mut l = Loader {
        prog: Program {
            files: SourceFiles::new(),
            modules: Vec::new(),
            roots: Vec::new(),
            diagnostics: Vec::new(),
            unreadable: Vec::new(),
        },
        by_canonical: BTreeMap::new(),
        stdlib_loaded: BTreeMap::new(),
        stack: Vec::new(),
    };
    for p in paths {
        if let Some(id) = l.load_user(p, None) {
            if !l.prog.roots.contains(&id) {
                l.prog.roots.push(id);
            }
        }
    }
    for m in memory {
        let given = PathBuf::from(&m.name);
        // In-memory sources are identified by their name, which need not exist on disk.
        let canonical = PathBuf::from(format!("<memory>/{}", m.name));
        let id = l.add_parsed(
            m.name.clone(),
            m.text.clone(),
            Origin::User { given, canonical: canonical.clone() },
        );
        l.by_canonical.insert(canonical.clone(), id);
        l.stack.push((canonical, None));
        l.follow_edges(id);
        l.stack.pop();
        l.prog.roots.push(id);
    }
    l.prog
}

impl Loader {
    fn add_parsed(&mut self, name: String, text: String, origin: Origin) -> ModuleId {
        let file = FileId(self.prog.files.add(name, text));
        let (ast, diags) = match self.prog.files.get(file.0) {
            Ok(f) => parse(f.source(), file),
            Err(_) => (ast::File { items: Vec::new() }, Vec::new()),
        };
        self.prog.diagnostics.extend(diags);
        let id = ModuleId(self.prog.modules.len());
        self.prog.modules.push(Module { file, origin, ast, uses: Vec::new(), imports: Vec::new() });
        id
    }

    /// Adds a file that could not be read, so a diagnostic can point at it.
    fn unreadable_file(&mut self, given: &Path, why: String, code: Code, site: Option<Span>) {
        let d = match site {
            Some(span) => {
                Diagnostic::error(code, format!("cannot read `{}`: {why}", given.display()))
                    .primary(span, "imported here")
            }
            None => {
                let file = FileId(self.prog.files.add(given.display().to_string(), String::new()));
                Diagnostic::error(code, format!("cannot read `{}`: {why}", given.display()))
                    .in_file(file)
            }
        };
        self.prog.diagnostics.push(d);
    }

    /// E0001 for a file that is not UTF-8 text: one diagnostic locating the first bad byte;
    /// the file is not parsed (binary input would only produce noise).
    fn not_utf8(&mut self, given: &Path, e: &std::string::FromUtf8Error, site: Option<Span>) {
        let at = e.utf8_error().valid_up_to();
        let prefix = &e.as_bytes()[..at];
        let line = prefix.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = prefix.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&prefix[line_start..]).chars().count() + 1;
        let mut d =
            Diagnostic::error(Code::E0001, format!("`{}` is not UTF-8 text", given.display()))
                .note(format!(
                    "first invalid byte at line {line}, column {column} (byte offset {at})"
                ))
                .note("the file was not parsed");
        d = match site {
            Some(span) => d.primary(span, "imported here"),
            None => {
                d.in_file(FileId(self.prog.files.add(given.display().to_string(), String::new())))
            }
        };
        self.prog.diagnostics.push(d);
    }

    /// Loads a user file (a root when `site` is `None`, else imported at `site`).
    fn load_user(&mut self, given: &Path, site: Option<Span>) -> Option<ModuleId> {
        let bytes = match std::fs::read(given) {
            Ok(b) => b,
            Err(e) => {
                let why =
                    if given.is_dir() { "it is a directory".to_string() } else { io_reason(&e) };
                self.unreadable_file(given, why, Code::E0019, site);
                if site.is_none() {
                    self.prog.unreadable.push(given.to_path_buf());
                }
                return None;
            }
        };
        let canonical = std::fs::canonicalize(given).unwrap_or_else(|_| given.to_path_buf());
        if let Some(pos) = self.stack.iter().position(|(c, _)| *c == canonical) {
            self.report_cycle(pos, site);
            return None;
        }
        if let Some(id) = self.by_canonical.get(&canonical) {
            return Some(*id);
        }
        if bytes.len() > MAX_SOURCE_BYTES {
            let why = format!(
                "it is {} bytes; .tess files are limited to {MAX_SOURCE_BYTES} bytes",
                bytes.len()
            );
            self.unreadable_file(given, why, Code::E0016, site);
            return None;
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                self.not_utf8(given, &e, site);
                return None;
            }
        };
        let origin = Origin::User { given: given.to_path_buf(), canonical: canonical.clone() };
        let id = self.add_parsed(given.display().to_string(), text, origin);
        self.by_canonical.insert(canonical.clone(), id);
        if self.stack.len() >= MAX_IMPORT_DEPTH {
            if let Some(span) = site {
                self.prog.diagnostics.push(
                    Diagnostic::error(
                        Code::E0016,
                        format!("imports nested more than {MAX_IMPORT_DEPTH} files deep"),
                    )
                    .primary(span, "this import is not followed"),
                );
            }
            return Some(id);
        }
        self.stack.push((canonical, None));
        self.follow_edges(id);
        self.stack.pop();
        Some(id)
    }

    /// E0010: labels every import along the cycle; the primary is the one that closes it.
    fn report_cycle(&mut self, from: usize, closing: Option<Span>) {
        let Some(closing) = closing else { return };
        let mut d = Diagnostic::error(Code::E0010, "import cycle")
            .primary(closing, "this import closes the cycle");
        let upto = self.stack.len().saturating_sub(1).max(from);
        for (_, span) in &self.stack[from..upto] {
            if let Some(s) = span {
                d = d.secondary(*s, "imports the next file in the cycle");
            }
        }
        let names: Vec<String> = self.stack[from..]
            .iter()
            .map(|(c, _)| {
                self.by_canonical
                    .get(c)
                    .and_then(|id| self.prog.files.get(self.prog.modules[id.0].file.0).ok())
                    .map(|f| f.name().clone())
                    .unwrap_or_default()
            })
            .collect();
        let mut chain = names.join(" -> ");
        if let Some(first) = names.first() {
            chain.push_str(&format!(" -> {first}"));
        }
        self.prog.diagnostics.push(d.note(format!("cycle: {chain}")));
    }

    /// Resolves the `use` and `import` items of a freshly parsed module.
    fn follow_edges(&mut self, id: ModuleId) {
        let items: Vec<(usize, ast::Item)> = self.prog.modules[id.0]
            .ast
            .items
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i, ast::Item::Use(_) | ast::Item::Import(_)))
            .map(|(k, i)| (k, i.clone()))
            .collect();
        let dir = self.prog.modules[id.0].dir();
        let mut imported: BTreeMap<ModuleId, Span> = BTreeMap::new();
        for (_, item) in items {
            match item {
                ast::Item::Import(imp) => {
                    let Some(dir) = &dir else {
                        self.prog.diagnostics.push(
                            Diagnostic::error(Code::E0019, "stdlib modules cannot import files")
                                .primary(imp.span, "not allowed here"),
                        );
                        continue;
                    };
                    let target = dir.join(&imp.path);
                    if let Some(top) = self.stack.last_mut() {
                        top.1 = Some(imp.path_span);
                    }
                    if let Some(m) = self.load_user(&target, Some(imp.path_span)) {
                        if let Some(first) = imported.get(&m) {
                            self.prog.diagnostics.push(
                                Diagnostic::warning(
                                    Code::W0002,
                                    format!("`{}` is imported twice", imp.path),
                                )
                                .primary(imp.span, "imported again here")
                                .secondary(*first, "first imported here"),
                            );
                        } else {
                            imported.insert(m, imp.span);
                            self.prog.modules[id.0]
                                .imports
                                .push(ImportEdge { module: m, span: imp.span });
                        }
                    }
                }
                ast::Item::Use(u) => {
                    if let Some(edge) = self.resolve_use(&u) {
                        self.prog.modules[id.0].uses.push(edge);
                    }
                }
                _ => {}
            }
        }
    }

    fn resolve_use(&mut self, u: &ast::UseItem) -> Option<UseEdge> {
        let first = u.path.first()?;
        if u.path.len() > 2 {
            self.prog.diagnostics.push(
                Diagnostic::error(
                    Code::E0011,
                    format!("unknown module `{}`", join(&u.path[..u.path.len() - 1])),
                )
                .primary(u.span, "stdlib modules are one level deep")
                .help("write `use module;` or `use module::item;`"),
            );
            return None;
        }
        let module = self.load_stdlib(first)?;
        Some(UseEdge { module, item: u.path.get(1).cloned(), alias: first.clone(), span: u.span })
    }

    fn load_stdlib(&mut self, name: &ast::Ident) -> Option<ModuleId> {
        if let Some(id) = self.stdlib_loaded.get(&name.name) {
            return Some(*id);
        }
        let Some(src) = stdlib::module(&name.name) else {
            let names: Vec<&str> = stdlib::names().collect();
            self.prog.diagnostics.push(
                Diagnostic::error(Code::E0011, format!("unknown module `{}`", name.name))
                    .primary(name.span, "no stdlib module of this name")
                    .help_opt(did_you_mean(&name.name, names.iter().copied()))
                    .note(format!("stdlib modules: {}", names.join(", ")))
                    .note("to include a file of your own, write `import \"file.tess\";`"),
            );
            return None;
        };
        let id = self.add_parsed(
            stdlib::display_path(&name.name),
            src.to_string(),
            Origin::Stdlib(name.name.clone()),
        );
        self.stdlib_loaded.insert(name.name.clone(), id);
        self.follow_edges(id);
        Some(id)
    }
}

fn join(ids: &[ast::Ident]) -> String {
    ids.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join("::")
}

/// An I/O error as a short reason, without the OS error number (stable across platforms).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}
