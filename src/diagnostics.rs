//! Diagnostics with stable error codes, rendered with codespan-reporting.
//!
//! Construction and rendering are separate (as in spade-diagnostics): the checker builds
//! [`Diagnostic`] values with a small builder and knows nothing about terminals or JSON;
//! [`render_human`] and [`render_json`] turn them into text afterwards. Codes are stable so
//! users, scripts and tests can rely on them; `docs/language.md` documents each one.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Files, SimpleFiles};
use codespan_reporting::term;
use serde::Serialize;
use std::fmt;
use std::ops::Range;

/// The file database every diagnostic points into: names as given on the command line
/// (or `<stdlib>/NAME.tess`), and the source text.
pub type SourceFiles = SimpleFiles<String, String>;

/// Index of a file in [`SourceFiles`]. A newtype so a byte offset cannot be passed for a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub usize);

/// A byte range in one source file. Every AST node carries one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }
    /// The smallest span covering both (they must be in the same file; otherwise `self`).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span::new(self.file, self.start.min(other.start), self.end.max(other.end))
    }
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// Stable diagnostic codes. Never renumber: add new ones at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// A character or token the lexer cannot read (also invalid UTF-8, bad escapes).
    E0001,
    /// A syntax error: a token the grammar does not allow here.
    E0002,
    /// The file ends in the middle of a construct.
    E0003,
    /// A name that resolves to nothing.
    E0004,
    /// A name defined twice in one scope.
    E0005,
    /// Physical dimensions that do not fit (adding energy to time).
    E0006,
    /// A component parameter without default that an instantiation does not set.
    E0007,
    /// A value outside its declared range, or a non-positive size.
    E0008,
    /// A `require` that evaluates to false.
    E0009,
    /// Files that import each other in a cycle.
    E0010,
    /// An unknown module (`use nosuch;`) or unit symbol (`3 fj`).
    E0011,
    /// A model file that cannot be read.
    E0012,
    /// A value of the wrong kind (a string where a number is needed, ...).
    E0013,
    /// An argument naming no parameter of the instantiated component.
    E0014,
    /// An unknown mapping pass or pass option.
    E0015,
    /// Input too deeply nested, too large, or with too many errors to continue.
    E0016,
    /// Division by zero or a non-finite result (overflow, log of zero, ...).
    E0017,
    /// Constants whose definitions refer to each other in a cycle.
    E0018,
    /// A source file (on the command line or imported) that cannot be read.
    E0019,
    /// A mapping option that does not fit the instance it targets (an array geometry the cell
    /// cannot drive at the clock, a tile larger than the instance's arrays, ...).
    E0020,
    /// Warning: a model is bound but never mapped.
    W0001,
    /// Warning: the same file is imported twice.
    W0002,
    /// A model parameter (weight, bias, constant, tree threshold, leaf value, base score) that
    /// is NaN or infinite. The 01xx range is for model files, not `.tess` sources.
    E0101,
    /// A finite model parameter the mapping cannot represent (beyond f32, or so large that the
    /// mapping's fixed-point arithmetic overflows).
    E0102,
    /// Threshold merging: a feature has more unique thresholds than the CAM cell has levels,
    /// so splits move (denied by `--deny-lossy`).
    E0110,
    /// Leaf rounding: `leaf_bits` fixed point moves margins by more than float32 rounding.
    E0111,
    /// Activation clipping: crossbar activations beyond the calibrated range were clipped.
    E0112,
    /// ADC saturation: column partial sums beyond the ADC full scale were read as full scale.
    E0113,
    /// Quantization error: the quantized crossbar network's outputs differ from the float model.
    E0114,
    /// Quantization error: the quantized transformer's outputs differ from the float model.
    E0115,
    /// A model or data file that cannot be read (missing, unreadable, a folder).
    E0120,
    /// A model or data file that is not well formed (broken JSON, a truncated LightGBM text
    /// model, an undecodable ONNX protobuf, a broken `.npy` header).
    E0121,
    /// A model file field that is missing or holds a value that cannot be right (wrong type,
    /// index out of range, a cycle in child pointers).
    E0122,
    /// A valid model that uses something tessera does not compile (an operator, a split kind, an
    /// objective).
    E0123,
    /// A size declared in a model file that what the file holds does not back (a declared feature
    /// count far beyond the features the trees read).
    E0124,
    /// A model too large for the mapping's storage (dense CAM cells).
    E0125,
    /// Data whose shape does not fit the model or the other data (feature count, sample count).
    E0126,
    /// A data file that holds no samples.
    E0127,
    /// A data file whose element type is not supported.
    E0128,
    /// A non-finite input value (NaN or infinite) given to a family that refuses them.
    E0129,
    /// A mapping pass that cannot run or fails on this model.
    E0130,
    /// A model that cannot be mapped onto the target (the mapping or its hardware cannot be built).
    E0131,
    /// A Verilog simulator that is not installed or cannot be started.
    E0132,
    /// A Verilog simulation that fails (compilation error, a run without a result).
    E0133,
    /// A Verilog simulation that exceeds its time limit.
    E0134,
    /// An accelerator description the flow cannot compile (no accelerator, no mapping, an unbound
    /// model, an option the mapping does not take).
    E0135,
    /// A mapping whose model family is not built yet.
    E0136,
    /// An output file or folder that cannot be written.
    E0137,
}

impl Code {
    /// Every code, in order (for `tessera explain` and its test).
    pub const ALL: &'static [Code] = &[
        Code::E0001,
        Code::E0002,
        Code::E0003,
        Code::E0004,
        Code::E0005,
        Code::E0006,
        Code::E0007,
        Code::E0008,
        Code::E0009,
        Code::E0010,
        Code::E0011,
        Code::E0012,
        Code::E0013,
        Code::E0014,
        Code::E0015,
        Code::E0016,
        Code::E0017,
        Code::E0018,
        Code::E0019,
        Code::E0020,
        Code::W0001,
        Code::W0002,
        Code::E0101,
        Code::E0102,
        Code::E0110,
        Code::E0111,
        Code::E0112,
        Code::E0113,
        Code::E0114,
        Code::E0115,
        Code::E0120,
        Code::E0121,
        Code::E0122,
        Code::E0123,
        Code::E0124,
        Code::E0125,
        Code::E0126,
        Code::E0127,
        Code::E0128,
        Code::E0129,
        Code::E0130,
        Code::E0131,
        Code::E0132,
        Code::E0133,
        Code::E0134,
        Code::E0135,
        Code::E0136,
        Code::E0137,
    ];

    /// Position in [`Code::ALL`]. Exhaustive, so a new code cannot compile without an entry
    /// here, and the test below fails until it is in `ALL` too.
    pub const fn index(self) -> usize {
        match self {
            Code::E0001 => 0,
            Code::E0002 => 1,
            Code::E0003 => 2,
            Code::E0004 => 3,
            Code::E0005 => 4,
            Code::E0006 => 5,
            Code::E0007 => 6,
            Code::E0008 => 7,
            Code::E0009 => 8,
            Code::E0010 => 9,
            Code::E0011 => 10,
            Code::E0012 => 11,
            Code::E0013 => 12,
            Code::E0014 => 13,
            Code::E0015 => 14,
            Code::E0016 => 15,
            Code::E0017 => 16,
            Code::E0018 => 17,
            Code::E0019 => 18,
            Code::E0020 => 19,
            Code::W0001 => 20,
            Code::W0002 => 21,
            Code::E0101 => 22,
            Code::E0102 => 23,
            Code::E0110 => 24,
            Code::E0111 => 25,
            Code::E0112 => 26,
            Code::E0113 => 27,
            Code::E0114 => 28,
            Code::E0115 => 29,
            Code::E0120 => 30,
            Code::E0121 => 31,
            Code::E0122 => 32,
            Code::E0123 => 33,
            Code::E0124 => 34,
            Code::E0125 => 35,
            Code::E0126 => 36,
            Code::E0127 => 37,
            Code::E0128 => 38,
            Code::E0129 => 39,
            Code::E0130 => 40,
            Code::E0131 => 41,
            Code::E0132 => 42,
            Code::E0133 => 43,
            Code::E0134 => 44,
            Code::E0135 => 45,
            Code::E0136 => 46,
            Code::E0137 => 47,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::E0001 => "E0001",
            Code::E0002 => "E0002",
            Code::E0003 => "E0003",
            Code::E0004 => "E0004",
            Code::E0005 => "E0005",
            Code::E0006 => "E0006",
            Code::E0007 => "E0007",
            Code::E0008 => "E0008",
            Code::E0009 => "E0009",
            Code::E0010 => "E0010",
            Code::E0011 => "E0011",
            Code::E0012 => "E0012",
            Code::E0013 => "E0013",
            Code::E0014 => "E0014",
            Code::E0015 => "E0015",
            Code::E0016 => "E0016",
            Code::E0017 => "E0017",
            Code::E0018 => "E0018",
            Code::E0019 => "E0019",
            Code::E0020 => "E0020",
            Code::W0001 => "W0001",
            Code::W0002 => "W0002",
            Code::E0101 => "E0101",
            Code::E0102 => "E0102",
            Code::E0110 => "E0110",
            Code::E0111 => "E0111",
            Code::E0112 => "E0112",
            Code::E0113 => "E0113",
            Code::E0114 => "E0114",
            Code::E0115 => "E0115",
            Code::E0120 => "E0120",
            Code::E0121 => "E0121",
            Code::E0122 => "E0122",
            Code::E0123 => "E0123",
            Code::E0124 => "E0124",
            Code::E0125 => "E0125",
            Code::E0126 => "E0126",
            Code::E0127 => "E0127",
            Code::E0128 => "E0128",
            Code::E0129 => "E0129",
            Code::E0130 => "E0130",
            Code::E0131 => "E0131",
            Code::E0132 => "E0132",
            Code::E0133 => "E0133",
            Code::E0134 => "E0134",
            Code::E0135 => "E0135",
            Code::E0136 => "E0136",
            Code::E0137 => "E0137",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A labelled span. The primary label says where the problem is; secondary labels point at
/// related places (the first definition of a duplicate, the declared range, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Vec<String>,
    /// The file a diagnostic without labels is about (an unreadable input).
    pub file: Option<FileId>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
            file: None,
        }
    }
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }
    /// Where the problem is. The first primary label decides the reported line and column.
    pub fn primary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: label.into(), primary: true });
        self
    }
    /// Names the file of a diagnostic that has no span to point at.
    pub fn in_file(mut self, file: FileId) -> Self {
        self.file = Some(file);
        self
    }
    /// A related place that explains the problem.
    pub fn secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: label.into(), primary: false });
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }
    /// Adds a help line only when there is something to say (a "did you mean" that may be absent).
    pub fn help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(h) => self.help(h),
            None => self,
        }
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
    /// The first primary label, which locates the diagnostic.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).map(|l| l.span)
    }

    fn to_codespan(&self) -> cs::Diagnostic<usize> {
        let base = match self.severity {
            Severity::Error => cs::Diagnostic::error(),
            Severity::Warning => cs::Diagnostic::warning(),
        };
        let labels = self
            .labels
            .iter()
            .map(|l| {
                let style =
                    if l.primary { cs::LabelStyle::Primary } else { cs::LabelStyle::Secondary };
                cs::Label::new(style, l.span.file.0, l.span.range()).with_message(l.message.clone())
            })
            .collect();
        let mut notes = self.notes.clone();
        notes.extend(self.help.iter().map(|h| format!("help: {h}")));
        base.with_code(self.code.as_str())
            .with_message(self.message.clone())
            .with_labels(labels)
            .with_notes(notes)
    }
}

/// Suggests the candidate closest to `name` ("did you mean"), or `None` when nothing is close.
///
/// A case-insensitive exact match wins; otherwise the smallest Levenshtein distance within a
/// third of the name's length (at least 1, at most 3), ties broken by candidate order.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (name.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = if c.eq_ignore_ascii_case(name) { 0 } else { strsim::levenshtein(name, c) };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Human rendering options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HumanStyle {
    /// ANSI colours; only for a terminal. Tests and pipes get plain text.
    pub colour: bool,
}

/// Renders diagnostics as plain text (no colours), in the given order.
pub fn render_human(files: &SourceFiles, diagnostics: &[Diagnostic]) -> String {
    let config = term::Config::default();
    let mut out = String::new();
    for d in diagnostics {
        match term::emit_into_string(&config, files, &d.to_codespan()) {
            Ok(s) => out.push_str(&s),
            // A label pointing outside its file would be a checker bug; still say something.
            Err(e) => out.push_str(&format!("{}[{}]: {} ({e})\n\n", sev(d), d.code, d.message)),
        }
    }
    out
}

/// Writes diagnostics to standard error, with colours when it is a terminal.
pub fn emit_human_stderr(files: &SourceFiles, diagnostics: &[Diagnostic], style: HumanStyle) {
    use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
    let choice = if style.colour { ColorChoice::Auto } else { ColorChoice::Never };
    let stream = StandardStream::stderr(choice);
    let mut lock = stream.lock();
    let config = term::Config::default();
    for d in diagnostics {
        if term::emit_to_write_style(&mut lock, &config, files, &d.to_codespan()).is_err() {
            eprintln!("{}[{}]: {}", sev(d), d.code, d.message);
        }
    }
}

fn sev(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A location in JSON output: 1-based line and column (columns count characters).
#[derive(Serialize)]
struct JsonLabel {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: String,
    primary: bool,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    code: &'static str,
    severity: Severity,
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    message: String,
    labels: Vec<JsonLabel>,
    notes: Vec<String>,
    help: Vec<String>,
}

/// 1-based (line, column) of a byte offset, columns in characters.
fn line_col(files: &SourceFiles, file: FileId, byte: usize) -> Option<(usize, usize)> {
    let line = files.line_index(file.0, byte).ok()?;
    let col = files.column_number(file.0, line, byte).ok()?;
    Some((line + 1, col))
}

fn json_label(files: &SourceFiles, l: &Label) -> Option<JsonLabel> {
    let name = files.name(l.span.file.0).ok()?;
    let (line, column) = line_col(files, l.span.file, l.span.start)?;
    let (end_line, end_column) = line_col(files, l.span.file, l.span.end)?;
    Some(JsonLabel {
        file: name.to_string(),
        line,
        column,
        end_line,
        end_column,
        message: l.message.clone(),
        primary: l.primary,
    })
}

/// Renders diagnostics as one JSON array:
/// `[{code, severity, file, line, column, end_line, end_column, message, labels, notes, help}]`,
/// where the location fields are those of the primary label (null when there is none; `file`
/// then names the file the diagnostic is about, if any).
pub fn render_json(files: &SourceFiles, diagnostics: &[Diagnostic]) -> String {
    let out: Vec<JsonDiagnostic> = diagnostics
        .iter()
        .map(|d| {
            let labels: Vec<JsonLabel> =
                d.labels.iter().filter_map(|l| json_label(files, l)).collect();
            let primary = labels.iter().find(|l| l.primary);
            let file = match primary {
                Some(l) => Some(l.file.clone()),
                None => d.file.and_then(|f| files.name(f.0).ok()),
            };
            JsonDiagnostic {
                code: d.code.as_str(),
                severity: d.severity,
                file,
                line: primary.map(|l| l.line),
                column: primary.map(|l| l.column),
                end_line: primary.map(|l| l.end_line),
                end_column: primary.map(|l| l.end_column),
                message: d.message.clone(),
                labels,
                notes: d.notes.clone(),
                help: d.help.clone(),
            }
        })
        .collect();
    // Serialising plain strings and integers cannot fail.
    serde_json::to_string_pretty(&out).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_in_all() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(c.index(), i, "{c} is out of place in Code::ALL");
        }
    }

    #[test]
    fn did_you_mean_prefers_case_and_small_edits() {
        assert_eq!(did_you_mean("fj", ["fJ", "pJ", "J"]), Some("did you mean `fJ`?".into()));
        assert_eq!(did_you_mean("clok", ["clock", "top"]), Some("did you mean `clock`?".into()));
        assert_eq!(did_you_mean("zzzzzz", ["clock", "top"]), None);
    }

    #[test]
    fn json_locations_are_one_based_characters() {
        let mut files = SourceFiles::new();
        let f = FileId(files.add("a.tess".to_string(), "é x\nyz".to_string()));
        // `x` is at byte 3 (é is two bytes), character column 3.
        let d = Diagnostic::error(Code::E0004, "unknown name").primary(Span::new(f, 3, 4), "here");
        let v: serde_json::Value = serde_json::from_str(&render_json(&files, &[d])).unwrap();
        assert_eq!(v[0]["line"], 1);
        assert_eq!(v[0]["column"], 3);
        assert_eq!(v[0]["end_column"], 4);
        assert_eq!(v[0]["file"], "a.tess");
        assert_eq!(v[0]["code"], "E0004");
    }
}
