//! Hostile inputs for decoder property tests: arbitrary JSON values of every type, and
//! mutations of real answers at the value level (a node replaced by a value of another type, a
//! huge number or deep nesting; a node removed) and at the byte level (flips, truncations,
//! insertions, deletions). Shared with the huawei-cph tests through `#[path]`.
#![allow(dead_code)]

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// A value nested `depth` arrays deep: deeper than serde_json's recursion limit of 128 when
/// `depth` is large, so that the decoder must refuse it, not overflow the stack.
pub fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |v, _| Value::Array(vec![v]))
}

/// Text nested `depth` levels deep, which no `Value` could hold.
pub fn nested_text(depth: usize) -> Vec<u8> {
    let mut t = Vec::with_capacity(depth * 2);
    t.extend(std::iter::repeat_n(b'[', depth));
    t.extend(std::iter::repeat_n(b']', depth));
    t
}

/// A leaf of any JSON type, weighted toward the values that break decoders: extreme and
/// out-of-range numbers, numbers as strings, empty and odd strings.
pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(json!(u64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(i64::MAX)),
            Just(json!(-1)),
            Just(json!(0)),
            Just(json!(1.5)),
            Just(json!(-0.0)),
            Just(json!(1e308)),
            Just(json!(-1e308)),
            Just(json!(f64::MIN_POSITIVE)),
        ],
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just(json!("")),
            Just(json!("0")),
            Just(json!("-1")),
            Just(json!("2")),
            Just(json!("18446744073709551616")),
            Just(json!("CPS.0005")),
            Just(json!("APIG.0307")),
            Just(json!("1970-01-01T00:00:00Z")),
            Just(json!("9999-12-31T23:59:59Z")),
            Just(json!("成功")),
            Just(json!("\u{0}\u{FEFF}\u{10FFFF}")),
        ],
        "[0-9]{1,40}".prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ]
}

/// Any JSON value: leaves, arrays and objects a few levels deep (keys drawn from `keys` and
/// at random), and occasionally a value nested past the parser's limit.
pub fn any_json(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => proptest::sample::select(keys).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{0,10}",
    ];
    let tree = leaf().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    });
    prop_oneof![
        9 => tree,
        1 => (100usize..400, leaf()).prop_map(|(d, l)| nested(d, l)),
    ]
}

/// How many nodes `v` has (itself included), in the pre-order [`replace_nth`] counts.
pub fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces the `n`th node in pre-order by `with` (`None` removes it from its parent; the root
/// cannot be removed and becomes `null`). Returns whether a node was reached.
pub fn replace_nth(v: &mut Value, n: &mut usize, with: &Option<Value>) -> bool {
    if *n == 0 {
        *v = with.clone().unwrap_or(Value::Null);
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => {
            for i in 0..a.len() {
                if *n == 0 && with.is_none() {
                    a.remove(i);
                    return true;
                }
                if replace_nth(&mut a[i], n, with) {
                    return true;
                }
            }
        }
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if *n == 0 && with.is_none() {
                    o.remove(&k);
                    return true;
                }
                if replace_nth(o.get_mut(&k).expect("listed key"), n, with) {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

/// `seed` with one to three of its nodes replaced by hostile values of any type, or removed.
pub fn mutated_json(seed: Value, keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let nodes = count_nodes(&seed);
    let edit = (
        0..nodes,
        prop_oneof![
            4 => any_json(keys).prop_map(Some),
            1 => Just(None),
        ],
    );
    vec(edit, 1..4).prop_map(move |edits| {
        let mut v = seed.clone();
        for (n, with) in edits {
            // Earlier edits may have shrunk the tree; an index past its end is skipped.
            replace_nth(&mut v, &mut n.clone(), &with);
        }
        v
    })
}

/// JSON fragments worth splicing into a body.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "-",
    "0",
    "1e999",
    "-1e999",
    "18446744073709551616",
    "\\u",
    "\\uD800",
    "\u{0}",
    "\u{FFFD}",
    " ",
];

#[derive(Debug, Clone)]
enum ByteEdit {
    Set(usize, u8),
    FlipBit(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn apply(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    let at = |i: usize, b: &Vec<u8>| if b.is_empty() { 0 } else { i % (b.len() + 1) };
    match edit {
        ByteEdit::Set(i, v) if !bytes.is_empty() => {
            let i = i % bytes.len();
            bytes[i] = *v;
        }
        ByteEdit::FlipBit(i, bit) if !bytes.is_empty() => {
            let i = i % bytes.len();
            bytes[i] ^= 1 << (bit % 8);
        }
        ByteEdit::Truncate(i) => {
            let i = at(*i, bytes);
            bytes.truncate(i);
        }
        ByteEdit::Insert(i, what) => {
            let i = at(*i, bytes);
            bytes.splice(i..i, what.iter().copied());
        }
        ByteEdit::Delete(i, n) => {
            let i = at(*i, bytes);
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        _ => {}
    }
}

/// `seed` with one to four byte-level edits.
pub fn mutated_bytes(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| ByteEdit::Set(i, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::FlipBit(i, b)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), vec(any::<u8>(), 1..8)).prop_map(|(i, v)| ByteEdit::Insert(i, v)),
        (any::<usize>(), proptest::sample::select(TOKENS))
            .prop_map(|(i, t)| ByteEdit::Insert(i, t.as_bytes().to_vec())),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| ByteEdit::Delete(i, n)),
    ];
    vec(edit, 1..5).prop_map(move |edits| {
        let mut b = seed.clone();
        for e in &edits {
            apply(&mut b, e);
        }
        b
    })
}

/// A hostile body built from `seeds`: arbitrary bytes, any JSON value, a seed mutated at the
/// value or byte level, or text nested past the parser's limit.
pub fn hostile_body(
    seeds: &'static [&'static str],
    keys: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    let seed = || proptest::sample::select(seeds);
    prop_oneof![
        2 => vec(any::<u8>(), 0..256),
        2 => any_json(keys).prop_map(|v| serde_json::to_vec(&v).expect("values serialize")),
        4 => seed().prop_flat_map(move |s| {
            let v: Value = serde_json::from_str(s).expect("seeds are JSON");
            mutated_json(v, keys).prop_map(|v| serde_json::to_vec(&v).expect("values serialize"))
        }),
        3 => seed().prop_flat_map(|s| mutated_bytes(s.as_bytes().to_vec())),
        1 => (1usize..5000).prop_map(nested_text),
    ]
}

/// An HTTP status: mostly 200, else any the transport could yield, or an impossible one.
pub fn http_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => Just(200u16),
        3 => proptest::sample::select(&[201u16, 204, 400, 401, 403, 404, 408, 409, 429, 500, 502, 503][..]),
        2 => 100u16..1000,
        1 => any::<u16>(),
    ]
}

/// A `Retry-After` header value: absent, seconds, huge, negative, a date, or junk.
pub fn retry_after() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => any::<u64>().prop_map(|n| Some(n.to_string())),
        1 => proptest::sample::select(&[
            "0", " 5 ", "-1", "18446744073709551616", "1.5", "",
            "Wed, 21 Oct 2015 07:28:00 GMT", "+3", "٣",
        ][..])
        .prop_map(|s| Some(s.to_owned())),
        1 => ".{0,12}".prop_map(Some),
    ]
}
