//! Seeded mutators shared by the fuzz tests (`fuzz_commands`, `fuzz_frontends`): a tiny
//! platform-independent generator, so a seed and a case number name one input for good, and
//! byte, text, JSON-structure, ONNX-structure and `.npy` mutations of real files. Each mutator
//! returns a line saying what it did, for the failure report.
#![allow(dead_code)]

use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use tessera::frontend::onnx::proto::ModelProto;

/// SplitMix64: tiny, seedable, and the same on every platform, so a case number plus a seed
/// names one input for good.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, case: u64) -> Rng {
        Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

pub const FLOATS: [f32; 14] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    3e38,
    f32::MAX,
    -f32::MAX,
    1e30,
    -1e30,
    1e-30,
    1e-45,
    0.0,
    -0.0,
    65504.0,
    -1.0,
];

pub const NUMBERS: [&str; 18] = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e39",
    "-1e400",
    "1e400",
    "0",
    "-0",
    "1e-320",
    "3.4028235e38",
    "99999999999999999999",
    "-1",
    "4294967296",
    "0.5",
    "",
    "-9223372036854775809",
];

/// Byte-level mutations, any file.
pub fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    if b.is_empty() {
        b.push(0);
        return "empty file given one byte".into();
    }
    let at = rng.below(b.len());
    match rng.below(6) {
        0 => {
            let k = 1 + rng.below(8);
            for _ in 0..k {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            format!("{k} bit flip(s) from byte {at}")
        }
        1 => {
            let v = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, b'9', b'-', b'[', b'"']);
            b[at] = v;
            format!("byte {at} = {v:#x}")
        }
        2 => {
            b.truncate(at);
            format!("truncated at {at}")
        }
        3 => {
            let n = 1 + rng.below(64).min(b.len() - at - 1);
            b.drain(at..at + n);
            format!("deleted {n} bytes at {at}")
        }
        4 => {
            let n = (1 + rng.below(64)).min(b.len() - at);
            let chunk = b[at..at + n].to_vec();
            b.splice(at..at, chunk);
            format!("duplicated {n} bytes at {at}")
        }
        _ => {
            let n = 1 + rng.below(16);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(at..at, junk);
            format!("inserted {n} random bytes at {at}")
        }
    }
}

/// Text mutations: a number replaced, a line deleted or duplicated, or a byte mutation.
pub fn mutate_text(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    let Ok(text) = String::from_utf8(b.clone()) else {
        return mutate_bytes(rng, b);
    };
    match rng.below(4) {
        0 | 1 => {
            // Spans of number characters.
            let bytes = text.as_bytes();
            let mut spans = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i].is_ascii_digit() {
                    let s = i;
                    while i < bytes.len() && b"0123456789.eE+-".contains(&bytes[i]) {
                        i += 1;
                    }
                    spans.push((s, i));
                } else {
                    i += 1;
                }
            }
            if spans.is_empty() {
                return mutate_bytes(rng, b);
            }
            let (s, e) = *rng.pick(&spans);
            let new = *rng.pick(&NUMBERS);
            let out = format!("{}{new}{}", &text[..s], &text[e..]);
            let what = format!("number `{}` at byte {s} -> `{new}`", &text[s..e]);
            *b = out.into_bytes();
            what
        }
        2 => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let k = rng.below(lines.len());
            let dup = rng.below(2) == 0;
            let mut out = String::new();
            for (i, l) in lines.iter().enumerate() {
                if i != k || dup {
                    out.push_str(l);
                }
                if i == k && dup {
                    out.push_str(l);
                }
            }
            *b = out.into_bytes();
            format!("line {} {}", k + 1, if dup { "duplicated" } else { "deleted" })
        }
        _ => mutate_bytes(rng, b),
    }
}

/// ONNX structure and value mutations through the frontend's prost types.
pub fn mutate_onnx(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    use prost::Message;
    let Ok(mut m) = ModelProto::decode(b.as_slice()) else {
        return mutate_bytes(rng, b);
    };
    let Some(g) = m.graph.as_mut() else {
        return mutate_bytes(rng, b);
    };
    let what = match rng.below(5) {
        0 | 1 => {
            // Tensor values: a few elements of one FLOAT initializer.
            let floats: Vec<usize> = (0..g.initializer.len())
                .filter(|i| g.initializer[*i].data_type == Some(1))
                .collect();
            if floats.is_empty() {
                return mutate_bytes(rng, b);
            }
            let t = &mut g.initializer[*rng.pick(&floats)];
            let raw = t.raw_data.as_ref().is_some_and(|r| !r.is_empty());
            let n = if raw {
                t.raw_data.as_ref().map_or(0, |r| r.len() / 4)
            } else {
                t.float_data.len()
            };
            if n == 0 {
                return mutate_bytes(rng, b);
            }
            let k = 1 + rng.below(3);
            let mut edits = Vec::new();
            for _ in 0..k {
                let i = rng.below(n);
                let v = *rng.pick(&FLOATS);
                match t.raw_data.as_mut().filter(|r| !r.is_empty()) {
                    Some(r) => r[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes()),
                    None => t.float_data[i] = v,
                }
                edits.push(format!("[{i}] = {v:e}"));
            }
            format!("initializer `{}`: {}", t.name.clone().unwrap_or_default(), edits.join(", "))
        }
        2 => {
            // A dimension of an initializer.
            if g.initializer.is_empty() {
                return mutate_bytes(rng, b);
            }
            let k = rng.below(g.initializer.len());
            let t = &mut g.initializer[k];
            if t.dims.is_empty() {
                t.dims.push(1 + rng.below(3) as i64);
                format!("initializer `{}` given a dimension", t.name.clone().unwrap_or_default())
            } else {
                let d = rng.below(t.dims.len());
                let v = *rng.pick(&[0i64, -1, 1, 2, 1 << 20, 1 << 40, i64::MAX]);
                let old = t.dims[d];
                t.dims[d] = v;
                format!(
                    "initializer `{}` dims[{d}] {old} -> {v}",
                    t.name.clone().unwrap_or_default()
                )
            }
        }
        3 => {
            // A node removed, or its op type changed.
            if g.node.is_empty() {
                return mutate_bytes(rng, b);
            }
            let k = rng.below(g.node.len());
            if rng.below(2) == 0 {
                let n = g.node.remove(k);
                format!("node #{k} ({}) removed", n.op_type.unwrap_or_default())
            } else {
                let op = *rng.pick(&[
                    "Relu",
                    "Softmax",
                    "Sigmoid",
                    "Tanh",
                    "Erf",
                    "Sqrt",
                    "Add",
                    "MatMul",
                    "Identity",
                    "Transpose",
                    "Gelu",
                    "LayerNormalization",
                    "Reshape",
                    "Flatten",
                    "Concat",
                ]);
                let old = g.node[k].op_type.replace(op.to_string());
                format!("node #{k} op {} -> {op}", old.unwrap_or_default())
            }
        }
        _ => {
            // Two inputs of one node swapped, or an input renamed to another value.
            if g.node.is_empty() {
                return mutate_bytes(rng, b);
            }
            let k = rng.below(g.node.len());
            let names: Vec<String> = g.node.iter().flat_map(|n| n.output.clone()).collect();
            let n = &mut g.node[k];
            if n.input.len() >= 2 && rng.below(2) == 0 {
                n.input.swap(0, 1);
                format!("node #{k}: inputs 0 and 1 swapped")
            } else if !n.input.is_empty() && !names.is_empty() {
                let i = rng.below(n.input.len());
                let to = rng.pick(&names).clone();
                n.input[i] = to.clone();
                format!("node #{k}: input {i} -> `{to}`")
            } else {
                return mutate_bytes(rng, b);
            }
        }
    };
    *b = m.encode_to_vec();
    what
}

/// Whether a `.npy` holds exactly the float32 data its header declares.
fn npy_sizes_agree(b: &[u8]) -> bool {
    use ndarray_npy::npy::header::Header;
    let mut rest = b;
    let Ok(h) = Header::from_reader(&mut rest) else { return false };
    let want = h.shape.iter().try_fold(4usize, |acc, d| acc.checked_mul(*d));
    want == Some(rest.len())
}

/// Data mutations: special values in a few cells, a column dropped, or bytes.
pub fn mutate_data(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    // ndarray-npy allocates what the header declares: only read headers the bytes back.
    if !npy_sizes_agree(b) {
        return mutate_bytes(rng, b);
    }
    let Ok(mut x) = <Array2<f32> as ReadNpyExt>::read_npy(b.as_slice()) else {
        return mutate_bytes(rng, b);
    };
    if x.is_empty() {
        return mutate_bytes(rng, b);
    }
    let what = match rng.below(4) {
        0 | 1 => {
            let k = 1 + rng.below(4);
            let mut edits = Vec::new();
            for _ in 0..k {
                let (r, c) = (rng.below(x.nrows()), rng.below(x.ncols()));
                let v = *rng.pick(&FLOATS);
                x[[r, c]] = v;
                edits.push(format!("[{r}, {c}] = {v:e}"));
            }
            edits.join(", ")
        }
        2 => {
            let v = *rng.pick(&FLOATS);
            x.fill(v);
            format!("every value = {v:e}")
        }
        _ => {
            let keep = rng.below(x.ncols() + 2);
            let cols = keep.min(x.ncols());
            let mut y = Array2::<f32>::zeros((x.nrows(), keep));
            for c in 0..cols {
                y.column_mut(c).assign(&x.column(c));
            }
            x = y;
            format!("{keep} columns instead of {}", x.ncols().max(cols))
        }
    };
    b.clear();
    x.write_npy(&mut *b).expect("write npy to memory");
    what
}

/// JSON structure mutations: one value somewhere in the document replaced by a value of
/// another kind or an extreme number, an object member removed, or an array element removed
/// or duplicated. Falls back to text mutations when the file is not JSON.
pub fn mutate_json(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(b) else {
        return mutate_text(rng, b);
    };
    let mut count = 0usize;
    count_values(&v, &mut count);
    let target = rng.below(count);
    let mut seen = 0usize;
    let what = edit_value(&mut v, target, &mut seen, rng, "$").unwrap_or_else(|| "no edit".into());
    *b = serde_json::to_vec(&v).expect("serialize JSON");
    what
}

fn count_values(v: &serde_json::Value, n: &mut usize) {
    *n += 1;
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| count_values(x, n)),
        serde_json::Value::Object(o) => o.values().for_each(|x| count_values(x, n)),
        _ => {}
    }
}

/// Replacement values: other kinds, extreme and negative numbers, numbers as strings (XGBoost
/// stores most scalars as strings).
fn replacement(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    let pick = rng.below(16);
    match pick {
        0 => json!(null),
        1 => json!([]),
        2 => json!({}),
        3 => json!(true),
        4 => json!(-1),
        5 => json!(0),
        6 => json!(4_000_000_000u64),
        7 => json!("4000000000"),
        8 => json!(1e300),
        9 => json!(-1e300),
        10 => json!(u64::MAX),
        11 => json!(i64::MIN),
        12 => json!("-1"),
        13 => json!("NaN"),
        14 => json!([0, -1, 99999]),
        _ => json!(0.5),
    }
}

fn edit_value(
    v: &mut serde_json::Value,
    target: usize,
    seen: &mut usize,
    rng: &mut Rng,
    path: &str,
) -> Option<String> {
    if *seen == target {
        let new = replacement(rng);
        let what = format!("{path} = {new}");
        *v = new;
        return Some(what);
    }
    *seen += 1;
    match v {
        serde_json::Value::Array(a) => {
            for i in 0..a.len() {
                let mut probe = 0usize;
                count_values(&a[i], &mut probe);
                if target < *seen + probe {
                    // Sometimes act on the array itself: drop or duplicate this element.
                    if rng.below(4) == 0 {
                        if rng.below(2) == 0 {
                            a.remove(i);
                            return Some(format!("{path}[{i}] removed"));
                        }
                        let dup = a[i].clone();
                        a.insert(i, dup);
                        return Some(format!("{path}[{i}] duplicated"));
                    }
                    return edit_value(&mut a[i], target, seen, rng, &format!("{path}[{i}]"));
                }
                *seen += probe;
            }
            None
        }
        serde_json::Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                let mut probe = 0usize;
                count_values(&o[&k], &mut probe);
                if target < *seen + probe {
                    if rng.below(6) == 0 {
                        o.remove(&k);
                        return Some(format!("{path}.{k} removed"));
                    }
                    let child = o.get_mut(&k)?;
                    return edit_value(child, target, seen, rng, &format!("{path}.{k}"));
                }
                *seen += probe;
            }
            None
        }
        _ => None,
    }
}
