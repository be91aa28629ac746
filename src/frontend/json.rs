//! A read-only cursor over a JSON document that knows where it is.
//!
//! Two things the JSON model frontends need and `serde_json::Value` cannot give:
//!
//! 1. **Exact numbers.** XGBoost writes float32 thresholds as the shortest decimal that rounds
//!    back to the float32. Going through `f64` first rounds twice (decimal → f64 → f32), which
//!    is not guaranteed to land on the same float32 for every decimal a writer may emit. The
//!    cursor keeps the raw text of each number (`serde_json`'s `RawValue`) and parses it straight
//!    to the requested type with Rust's correctly rounded `str::parse`, so `as_f32` is exact
//!    for any writer.
//! 2. **Paths in errors.** Every cursor carries its JSON path
//!    (`learner.gradient_booster.model.trees[3].split_type[7]`), and every failure names it.
//!
//! Each level re-scans only its own sub-document, so navigating a model costs a few passes
//! over the text, not a tree of allocated values.

use serde_json::value::RawValue;

use super::error::{FileCtx, FrontendError};

/// The JSON type of a value, read from its first character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// A value inside a parsed document, with its path.
#[derive(Clone, Debug)]
pub(crate) struct Json<'a> {
    raw: &'a RawValue,
    path: String,
    ctx: &'a FileCtx,
}

/// An object whose members have been located once, for repeated field look-ups.
#[derive(Debug)]
pub(crate) struct Object<'a> {
    members: Vec<(String, &'a RawValue)>,
    path: String,
    ctx: &'a FileCtx,
}

/// Checks that `text` is one well-formed JSON document and returns a cursor on its root.
/// Truncated files and syntax errors are reported with line and column.
pub(crate) fn parse_document<'a>(
    text: &'a str,
    ctx: &'a FileCtx,
) -> Result<Json<'a>, FrontendError> {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => Ok(Json { raw, path: String::new(), ctx }),
        Err(e) => {
            if let Some(err) = non_finite_literal(text, ctx, e.line(), e.column()) {
                return Err(err);
            }
            let what = if e.is_eof() {
                "file ends in the middle of a JSON value (truncated?)".to_string()
            } else {
                format!("not valid JSON: {}", strip_position(&e.to_string()))
            };
            Err(ctx.syntax(format!("line {}, column {}", e.line(), e.column()), what))
        }
    }
}

/// Some writers put `NaN` or `Infinity` into JSON, which JSON does not allow. When the parse
/// stopped at one, say so with E0101 (a non-finite parameter), counting every such bare token
/// outside strings, instead of a bare syntax error.
fn non_finite_literal(
    text: &str,
    ctx: &FileCtx,
    line: usize,
    column: usize,
) -> Option<FrontendError> {
    let line_start =
        text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum::<usize>();
    let at = line_start + column.saturating_sub(1);
    const WORDS: [&str; 3] = ["NaN", "Infinity", "-Infinity"];
    let here = |i: usize| WORDS.iter().any(|w| text.get(i..).is_some_and(|t| t.starts_with(w)));
    // serde_json reports the column of the first bad character or the one after it.
    if !(here(at) || at > 0 && here(at - 1)) {
        return None;
    }
    let (mut count, mut in_str, mut escaped) = (0usize, false, false);
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match (in_str, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => in_str = !in_str,
            (false, _, b'N' | b'I') if here(i) && !(i > 0 && bytes[i - 1] == b'-') => count += 1,
            (false, _, b'-') if here(i) => count += 1,
            _ => {}
        }
    }
    let message = format!(
        "{count} NaN/Infinity literal{} (the first here); a model parameter must be a finite \
         number, and JSON has no NaN or infinity: re-export the model without them",
        if count == 1 { "" } else { "s" }
    );
    Some(
        super::param::ParamError {
            code: crate::diagnostics::Code::E0101,
            file: ctx.file.clone(),
            location: format!("line {line}, column {column}"),
            first: at,
            count: count.max(1),
            message,
        }
        .into(),
    )
}

/// serde_json appends " at line L column C" to its messages; we print the position ourselves.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl<'a> Json<'a> {
    /// The JSON path of this value; the empty path is shown as `(top level)`.
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "(top level)"
        } else {
            &self.path
        }
    }

    pub fn ctx(&self) -> &'a FileCtx {
        self.ctx
    }

    pub fn text(&self) -> &'a str {
        self.raw.get().trim()
    }

    pub fn kind(&self) -> Kind {
        match self.text().as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't') | Some(b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    /// An `Invalid` error located at this value.
    pub fn invalid(&self, message: impl Into<String>) -> FrontendError {
        self.ctx.invalid(self.path(), message)
    }

    /// An `Unsupported` error located at this value.
    pub fn unsupported(&self, message: impl Into<String>) -> FrontendError {
        self.ctx.unsupported(self.path(), message)
    }

    fn expected(&self, what: &str) -> FrontendError {
        self.invalid(format!("expected {what}, found {}", self.describe()))
    }

    /// A short description of the value for error messages: its type, and its text when short.
    fn describe(&self) -> String {
        let t = self.text();
        match self.kind() {
            Kind::Object | Kind::Array => self.kind().name().to_string(),
            _ if t.len() <= 40 => format!("{} ({t})", self.kind().name()),
            k => k.name().to_string(),
        }
    }

    pub fn object(&self) -> Result<Object<'a>, FrontendError> {
        if self.kind() != Kind::Object {
            return Err(self.expected("an object"));
        }
        let members = parse_members(self.raw.get())
            .map_err(|e| self.invalid(format!("malformed object: {e}")))?;
        Ok(Object { members, path: self.path.clone(), ctx: self.ctx })
    }

    /// Shorthand for `self.object()?.req(name)`.
    pub fn field(&self, name: &str) -> Result<Json<'a>, FrontendError> {
        self.object()?.req(name)
    }

    pub fn array(&self) -> Result<Vec<Json<'a>>, FrontendError> {
        let items = self.raw_items()?;
        Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, raw)| Json { raw, path: format!("{}[{i}]", self.path), ctx: self.ctx })
            .collect())
    }

    fn raw_items(&self) -> Result<Vec<&'a RawValue>, FrontendError> {
        if self.kind() != Kind::Array {
            return Err(self.expected("an array"));
        }
        serde_json::from_str::<Vec<&'a RawValue>>(self.raw.get())
            .map_err(|e| self.invalid(format!("malformed array: {e}")))
    }

    /// Parses every element of a numeric array with `parse`; a failing element is named by
    /// index. Avoids building a cursor (and a path string) per element.
    fn numbers<T>(
        &self,
        what: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, FrontendError> {
        let items = self.raw_items()?;
        let mut out = Vec::with_capacity(items.len());
        for (i, raw) in items.into_iter().enumerate() {
            let item = Json { raw, path: String::new(), ctx: self.ctx };
            let v = if item.kind() == Kind::Number {
                parse(item.text())
            } else {
                Err(format!("expected {what}, found {}", item.describe()))
            };
            match v {
                Ok(v) => out.push(v),
                Err(msg) => {
                    return Err(self.ctx.invalid(format!("{}[{i}]", self.path()), msg));
                }
            }
        }
        Ok(out)
    }

    /// Every element as the nearest f32. Elements beyond the f32 range are refused all at once
    /// (E0102, naming the first and their count): they are model parameters the mapping
    /// cannot hold.
    pub fn f32_vec(&self) -> Result<Vec<f32>, FrontendError> {
        let v = self.numbers("a number", parse_unchecked::<f32>)?;
        self.in_range(v.iter().map(|x| *x as f64), "float32")?;
        Ok(v)
    }

    /// Every element as f64; out-of-range elements are refused as in [`Json::f32_vec`].
    pub fn f64_vec(&self) -> Result<Vec<f64>, FrontendError> {
        let v = self.numbers("a number", parse_unchecked::<f64>)?;
        self.in_range(v.iter().copied(), "float64")?;
        Ok(v)
    }

    /// E0102 when a parsed number came out infinite: JSON has no NaN or infinity literals, so
    /// that means a literal beyond the type's range.
    pub fn in_range(&self, v: impl Iterator<Item = f64>, ty: &str) -> Result<(), FrontendError> {
        let mut bad = v.enumerate().filter(|(_, x)| !x.is_finite());
        let Some((first, _)) = bad.next() else {
            return Ok(());
        };
        let count = 1 + bad.count();
        let message = format!(
            "{count} value{} outside the {ty} range (the first at index {first}); tessera \
             computes with {ty} here",
            if count == 1 { "" } else { "s" }
        );
        Err(super::param::not_representable(&self.ctx.file, self.path(), first, count, message)
            .into())
    }

    pub fn i64_vec(&self) -> Result<Vec<i64>, FrontendError> {
        self.numbers("an integer", parse_i64)
    }

    /// A number as the nearest f32; beyond the f32 range is E0102, as in [`Json::f32_vec`].
    pub fn as_f32(&self) -> Result<f32, FrontendError> {
        let v = self.number("a number", parse_unchecked::<f32>)?;
        self.in_range(std::iter::once(v as f64), "float32")?;
        Ok(v)
    }

    /// A number as f64; beyond the f64 range is E0102.
    pub fn as_f64(&self) -> Result<f64, FrontendError> {
        let v = self.number("a number", parse_unchecked::<f64>)?;
        self.in_range(std::iter::once(v), "float64")?;
        Ok(v)
    }

    pub fn as_i64(&self) -> Result<i64, FrontendError> {
        self.number("an integer", parse_i64)
    }

    /// A non-negative integer that must fit `usize`.
    pub fn as_usize(&self) -> Result<usize, FrontendError> {
        let v = self.as_i64()?;
        usize::try_from(v)
            .map_err(|_| self.invalid(format!("expected a non-negative integer, found {v}")))
    }

    fn number<T>(
        &self,
        what: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, FrontendError> {
        if self.kind() != Kind::Number {
            return Err(self.expected(what));
        }
        parse(self.text()).map_err(|m| self.invalid(m))
    }

    pub fn as_bool(&self) -> Result<bool, FrontendError> {
        match self.text() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.expected("a boolean")),
        }
    }

    pub fn as_string(&self) -> Result<String, FrontendError> {
        if self.kind() != Kind::String {
            return Err(self.expected("a string"));
        }
        serde_json::from_str::<String>(self.raw.get())
            .map_err(|e| self.invalid(format!("malformed string: {e}")))
    }

    /// XGBoost stores most scalar parameters as strings (`"num_feature": "30"`); this accepts
    /// that or a plain number.
    pub fn as_usize_lenient(&self) -> Result<usize, FrontendError> {
        match self.kind() {
            Kind::String => {
                let s = self.as_string()?;
                s.trim().parse::<usize>().map_err(|_| {
                    self.invalid(format!("expected a non-negative integer, found \"{s}\""))
                })
            }
            _ => self.as_usize(),
        }
    }
}

impl<'a> Object<'a> {
    pub fn opt(&self, name: &str) -> Option<Json<'a>> {
        // The last member wins for duplicate keys, as in serde_json's own maps.
        self.members.iter().rev().find(|(k, _)| k == name).map(|(_, raw)| Json {
            raw,
            path: join(&self.path, name),
            ctx: self.ctx,
        })
    }

    pub fn req(&self, name: &str) -> Result<Json<'a>, FrontendError> {
        self.opt(name)
            .ok_or_else(|| self.ctx.invalid(join(&self.path, name), "required field is missing"))
    }
}

fn parse_members(text: &str) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    // A visitor that keeps member order and duplicates; a map type would reorder or merge.
    struct Members<'a>(Vec<(String, &'a RawValue)>);
    impl<'de> serde::Deserialize<'de> for Members<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                        out.push((k, v));
                    }
                    Ok(Members(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Members>(text).map(|m| m.0)
}

/// Parses a number's text, leaving the range check to the caller (out of range gives an
/// infinity). `f32` is parsed directly, correctly rounded, with no detour through f64.
fn parse_unchecked<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("`{text}` is not a number"))
}

pub(super) fn parse_i64(text: &str) -> Result<i64, String> {
    text.parse().map_err(|_| format!("expected an integer, found `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> FileCtx {
        FileCtx { file: "m.json".into() }
    }

    #[test]
    fn paths_name_fields_and_indices() {
        let c = ctx();
        let doc = parse_document(r#"{"a": {"b": [1, 2, "x"]}}"#, &c).unwrap();
        let b = doc.field("a").unwrap().field("b").unwrap();
        assert_eq!(b.path(), "a.b");
        let err = b.i64_vec().unwrap_err().to_string();
        assert_eq!(err, r#"m.json: a.b[2]: expected an integer, found a string ("x")"#);
        let err = doc.field("a").unwrap().field("c").unwrap_err().to_string();
        assert_eq!(err, "m.json: a.c: required field is missing");
    }

    #[test]
    fn truncated_document_is_a_syntax_error_with_position() {
        let c = ctx();
        let err = parse_document("{\"a\": [1, 2", &c).unwrap_err().to_string();
        assert_eq!(
            err,
            "m.json: line 1, column 11: file ends in the middle of a JSON value (truncated?)"
        );
    }

    #[test]
    fn float32_parse_is_direct_not_via_f64() {
        // 1 + 2^-24 + 2^-60 sits just above the midpoint between the float32s 1 and 1 + 2^-23.
        // Correct rounding gives 1 + 2^-23; rounding to f64 first lands exactly on the
        // midpoint (the 2^-60 is lost) and ties-to-even then gives 1.0.
        let text = "1.00000005960464477539930025046";
        let via_f64 = text.parse::<f64>().unwrap() as f32;
        assert_eq!(via_f64, 1.0);
        assert_eq!(parse_unchecked::<f32>(text).unwrap(), 1.0 + f32::EPSILON);
        let c = ctx();
        let array = format!("[{text}]");
        let doc = parse_document(&array, &c).unwrap();
        assert_eq!(doc.f32_vec().unwrap(), vec![1.0 + f32::EPSILON]);
    }

    #[test]
    fn duplicate_keys_take_the_last_value() {
        let c = ctx();
        let doc = parse_document(r#"{"k": 1, "k": 2}"#, &c).unwrap();
        assert_eq!(doc.field("k").unwrap().as_i64().unwrap(), 2);
    }

    #[test]
    fn out_of_range_float32_is_an_error() {
        let c = ctx();
        let doc = parse_document("[1, 1e39, -0E0, -1e40, 4.5E-1]", &c).unwrap();
        let e = doc.f32_vec().unwrap_err();
        assert_eq!(e.code(), crate::diagnostics::Code::E0102);
        assert_eq!(
            e.to_string(),
            "m.json: (top level): 2 values outside the float32 range (the first at index 1); \
             tessera computes with float32 here"
        );
        let doc = parse_document("[-0E0, 4.5E-1, 1e39]", &c).unwrap();
        assert_eq!(doc.f64_vec().unwrap(), vec![0.0, 0.45, 1e39]);
        assert_eq!(parse_unchecked::<f32>("4.5E-1").unwrap(), 0.45f32);
    }
}
