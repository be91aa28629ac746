//! `tessera explain CODE`: what an error code means and how to fix it, like `rustc --explain`.
//!
//! The explanations are the `#### CODE — title` sections of the documentation, compiled into the
//! binary, so the command and the docs can never disagree and work from any folder.

/// The documents whose `#### CODE — title` sections explain codes.
const DOCS: &[&str] = &[include_str!("../../docs/language.md")];

/// The explanation of `code` (case-insensitive), the section's text without its heading marks.
pub fn explanation(code: &str) -> Option<String> {
    let want = code.trim().to_ascii_uppercase();
    for doc in DOCS {
        let mut lines = doc.lines();
        while let Some(line) = lines.next() {
            let Some(head) = line.strip_prefix("#### ") else { continue };
            if head.split_whitespace().next() != Some(want.as_str()) {
                continue;
            }
            let mut out = format!("{head}\n");
            for l in lines.by_ref() {
                if l.starts_with("#") {
                    break;
                }
                out.push_str(l);
                out.push('\n');
            }
            return Some(out.trim_end().to_string() + "\n");
        }
    }
    None
}

/// Every code the documentation explains, in order.
pub fn codes() -> Vec<String> {
    DOCS.iter()
        .flat_map(|d| d.lines())
        .filter_map(|l| l.strip_prefix("#### "))
        .filter_map(|h| h.split_whitespace().next())
        .filter(|c| c.len() == 5 && c[1..].chars().all(|ch| ch.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// Prints the explanation; exit 0, or 1 with the known codes when there is none.
pub fn run(code: &str) -> u8 {
    match explanation(code) {
        Some(text) => {
            print!("{text}");
            0
        }
        None => {
            eprintln!("error: no explanation for `{code}`; known codes: {}", codes().join(", "));
            1
        }
    }
}
