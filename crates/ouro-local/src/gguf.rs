//! Reading a GGUF file's header and metadata.
//!
//! A GGUF file starts with the magic `GGUF`, a little-endian `u32` version (2 and 3 are read
//! here; both use 64-bit counts), the tensor count and the metadata key/value count, then the
//! key/values themselves. [`read`] parses exactly that part and stops before the tensor
//! infos, so reading a 1 GB model's metadata touches a few megabytes (most of it the
//! tokenizer's vocabulary, which is skipped rather than stored: arrays longer than
//! [`MAX_STORED_ARRAY`] keep their type and length only).
//!
//! The reader trusts nothing in the file: every length is checked against what is left and
//! against sane limits before anything is allocated, nesting is bounded, and a truncated or
//! corrupt file is an error, never a panic.
//!
//! [`encode`] writes the same format back, for tests and fixtures.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// The first four bytes of every GGUF file.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// Arrays with more elements than this are skipped: [`Array::values`] is `None`.
pub const MAX_STORED_ARRAY: u64 = 1024;

/// No string in a real GGUF file comes near this (chat templates are a few KB).
const MAX_STRING_BYTES: u64 = 16 << 20;

/// Arrays of arrays deeper than this are treated as corrupt.
const MAX_NESTING: u32 = 8;

/// The type tag of a metadata value, as numbered in the GGUF format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    pub fn from_tag(tag: u32) -> Option<ValueType> {
        Some(match tag {
            0 => ValueType::U8,
            1 => ValueType::I8,
            2 => ValueType::U16,
            3 => ValueType::I16,
            4 => ValueType::U32,
            5 => ValueType::I32,
            6 => ValueType::F32,
            7 => ValueType::Bool,
            8 => ValueType::String,
            9 => ValueType::Array,
            10 => ValueType::U64,
            11 => ValueType::I64,
            12 => ValueType::F64,
            _ => return None,
        })
    }

    pub fn tag(self) -> u32 {
        match self {
            ValueType::U8 => 0,
            ValueType::I8 => 1,
            ValueType::U16 => 2,
            ValueType::I16 => 3,
            ValueType::U32 => 4,
            ValueType::I32 => 5,
            ValueType::F32 => 6,
            ValueType::Bool => 7,
            ValueType::String => 8,
            ValueType::Array => 9,
            ValueType::U64 => 10,
            ValueType::I64 => 11,
            ValueType::F64 => 12,
        }
    }

    /// Bytes per value, for the fixed-size types.
    fn fixed_size(self) -> Option<u64> {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => Some(1),
            ValueType::U16 | ValueType::I16 => Some(2),
            ValueType::U32 | ValueType::I32 | ValueType::F32 => Some(4),
            ValueType::U64 | ValueType::I64 | ValueType::F64 => Some(8),
            ValueType::String | ValueType::Array => None,
        }
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// An array value. Long arrays (the tokenizer's vocabulary and merges) are not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub element_type: ValueType,
    pub len: u64,
    /// The elements, or `None` when the array had more than [`MAX_STORED_ARRAY`] of them.
    pub values: Option<Vec<Value>>,
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// Any integer value that is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// A short human form: strings quoted and cut at 80 characters, long arrays summarized.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U8(v) => write!(f, "{v}"),
            Value::I8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::String(s) => {
                let cut: String = s.chars().take(80).collect();
                let more = if cut.len() < s.len() { "…" } else { "" };
                write!(f, "{cut:?}{more}")
            }
            Value::Array(a) => match &a.values {
                Some(values) if values.len() <= 8 => {
                    write!(f, "[")?;
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            write!(f, ", ")?;
                        }
                        write!(f, "{v}")?;
                    }
                    write!(f, "]")
                }
                _ => write!(f, "[{} × {:?}]", a.len, a.element_type),
            },
        }
    }
}

/// What went wrong reading GGUF bytes.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("not a GGUF file: it starts with {found:?}, not \"GGUF\"")]
    NotGguf { found: Vec<u8> },
    #[error("GGUF version {0} is not supported (ouro reads versions 2 and 3)")]
    UnsupportedVersion(u32),
    #[error("truncated: the data ends at byte {at} inside {what}")]
    Truncated { at: u64, what: String },
    #[error("corrupt at byte {at}: {message}")]
    Corrupt { at: u64, message: String },
    #[error("read error at byte {at}: {source}")]
    Io { at: u64, source: io::Error },
}

/// A [`GgufError`] with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct GgufFileError {
    pub path: PathBuf,
    #[source]
    pub source: GgufError,
}

/// A GGUF file's header and metadata, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub version: u32,
    pub tensor_count: u64,
    pub kv: Vec<(String, Value)>,
}

impl Metadata {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    /// `general.architecture`, e.g. `qwen2`, `llama`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// `general.name`, e.g. `Qwen2.5 Coder 1.5B Instruct`.
    pub fn name(&self) -> Option<&str> {
        self.get_str("general.name")
    }

    /// `{architecture}.context_length`: the context the model was trained for.
    pub fn context_length(&self) -> Option<u64> {
        let arch = self.architecture()?;
        self.get_u64(&format!("{arch}.context_length"))
    }

    /// `general.file_type`, llama.cpp's `llama_ftype` number.
    pub fn file_type(&self) -> Option<u64> {
        self.get_u64("general.file_type")
    }

    /// The quantization named from `general.file_type`, e.g. `Q4_K_M`.
    pub fn quantization(&self) -> Option<&'static str> {
        self.file_type().and_then(file_type_name)
    }

    /// The default chat template (`tokenizer.chat_template`), a Jinja template.
    pub fn chat_template(&self) -> Option<&str> {
        self.get_str("tokenizer.chat_template")
    }
}

/// llama.cpp's name for a `general.file_type` value (`enum llama_ftype`).
pub fn file_type_name(file_type: u64) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        _ => return None,
    })
}

/// Reads the metadata of the GGUF file at `path`.
pub fn read_file(path: &Path) -> Result<Metadata, GgufFileError> {
    let wrap = |source| GgufFileError {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|source| wrap(GgufError::Io { at: 0, source }))?;
    read(BufReader::with_capacity(256 * 1024, file)).map_err(wrap)
}

/// Reads a GGUF header and metadata from `input`, leaving it just before the tensor infos.
pub fn read<R: Read>(input: R) -> Result<Metadata, GgufError> {
    let mut r = Reader {
        inner: input,
        at: 0,
    };
    let magic = r.read_prefix(4)?;
    if magic != MAGIC {
        return Err(GgufError::NotGguf { found: magic });
    }
    let version = r.u32("the version")?;
    if version != 2 && version != 3 {
        return Err(GgufError::UnsupportedVersion(version));
    }
    let tensor_count = r.u64("the tensor count")?;
    let kv_count = r.u64("the metadata count")?;
    // Every key/value takes at least 8 + 4 + 1 bytes, so no allocation is sized by the file.
    let mut kv = Vec::with_capacity(kv_count.min(256) as usize);
    for index in 0..kv_count {
        let key = r.string(&format!("the key of metadata entry {index}"))?;
        let what = format!("the value of `{key}`");
        let tag = r.u32(&what)?;
        let value_type = r.value_type(tag, &what)?;
        let value = r.value(value_type, &what, 0)?;
        kv.push((key, value));
    }
    Ok(Metadata {
        version,
        tensor_count,
        kv,
    })
}

struct Reader<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Reader<R> {
    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        let mut done = 0;
        while done < buf.len() {
            match self.inner.read(&mut buf[done..]) {
                Ok(0) => {
                    return Err(GgufError::Truncated {
                        at: self.at,
                        what: what.to_string(),
                    })
                }
                Ok(n) => {
                    done += n;
                    self.at += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(GgufError::Io {
                        at: self.at,
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Up to `n` bytes: fewer only when the input ends (for the magic, so a short file is
    /// "not GGUF" rather than "truncated").
    fn read_prefix(&mut self, n: usize) -> Result<Vec<u8>, GgufError> {
        let mut buf = Vec::with_capacity(n);
        (&mut self.inner)
            .take(n as u64)
            .read_to_end(&mut buf)
            .map_err(|source| GgufError::Io {
                at: self.at,
                source,
            })?;
        self.at += buf.len() as u64;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf, what)?;
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn corrupt(&self, message: String) -> GgufError {
        GgufError::Corrupt {
            at: self.at,
            message,
        }
    }

    fn value_type(&self, tag: u32, what: &str) -> Result<ValueType, GgufError> {
        ValueType::from_tag(tag)
            .ok_or_else(|| self.corrupt(format!("unknown value type {tag} for {what}")))
    }

    fn string_len(&mut self, what: &str) -> Result<u64, GgufError> {
        let len = self.u64(what)?;
        if len > MAX_STRING_BYTES {
            return Err(self.corrupt(format!(
                "a string of {len} bytes in {what} (more than the {MAX_STRING_BYTES} allowed)"
            )));
        }
        Ok(len)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.string_len(what)?;
        let mut buf = Vec::with_capacity(len.min(64 * 1024) as usize);
        let got = (&mut self.inner)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|source| GgufError::Io {
                at: self.at,
                source,
            })?;
        self.at += got as u64;
        if (got as u64) < len {
            return Err(GgufError::Truncated {
                at: self.at,
                what: what.to_string(),
            });
        }
        Ok(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        let skipped =
            io::copy(&mut (&mut self.inner).take(n), &mut io::sink()).map_err(|source| {
                GgufError::Io {
                    at: self.at,
                    source,
                }
            })?;
        self.at += skipped;
        if skipped < n {
            return Err(GgufError::Truncated {
                at: self.at,
                what: what.to_string(),
            });
        }
        Ok(())
    }

    fn value(&mut self, t: ValueType, what: &str, depth: u32) -> Result<Value, GgufError> {
        Ok(match t {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array(what)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(what)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(what)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            ValueType::Bool => {
                let [b] = self.array::<1>(what)?;
                match b {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    other => return Err(self.corrupt(format!("boolean {other} in {what}"))),
                }
            }
            ValueType::String => Value::String(self.string(what)?),
            ValueType::Array => {
                if depth >= MAX_NESTING {
                    return Err(self.corrupt(format!("arrays nested too deep in {what}")));
                }
                let tag = self.u32(what)?;
                let element_type = self.value_type(tag, what)?;
                let len = self.u64(what)?;
                let values = if len <= MAX_STORED_ARRAY {
                    let mut values = Vec::with_capacity(len as usize);
                    for _ in 0..len {
                        values.push(self.value(element_type, what, depth + 1)?);
                    }
                    Some(values)
                } else {
                    self.skip_values(element_type, len, what, depth + 1)?;
                    None
                };
                Value::Array(Array {
                    element_type,
                    len,
                    values,
                })
            }
        })
    }

    /// Reads past `len` values of type `t` without keeping them.
    fn skip_values(
        &mut self,
        t: ValueType,
        len: u64,
        what: &str,
        depth: u32,
    ) -> Result<(), GgufError> {
        if let Some(size) = t.fixed_size() {
            let bytes = len.checked_mul(size).ok_or_else(|| {
                self.corrupt(format!(
                    "an array of {len} elements in {what} is impossibly long"
                ))
            })?;
            return self.skip(bytes, what);
        }
        for _ in 0..len {
            match t {
                ValueType::String => {
                    let n = self.string_len(what)?;
                    self.skip(n, what)?;
                }
                _ => {
                    // An array of arrays: each element is itself an array.
                    if depth >= MAX_NESTING {
                        return Err(self.corrupt(format!("arrays nested too deep in {what}")));
                    }
                    let tag = self.u32(what)?;
                    let inner = self.value_type(tag, what)?;
                    let inner_len = self.u64(what)?;
                    self.skip_values(inner, inner_len, what, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// Encodes a GGUF header and metadata (no tensors), for tests and fixtures.
///
/// A skipped array (`values: None`) is written as `len` zero values (empty strings, empty
/// arrays of `u8`), so what [`read`] gives back for it matches.
pub fn encode(version: u32, tensor_count: u64, kv: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&tensor_count.to_le_bytes());
    out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (key, value) in kv {
        encode_string(&mut out, key);
        out.extend_from_slice(&value.value_type().tag().to_le_bytes());
        encode_value(&mut out, value);
    }
    out
}

fn encode_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => encode_string(out, s),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Array(a) => {
            out.extend_from_slice(&a.element_type.tag().to_le_bytes());
            match &a.values {
                Some(values) => {
                    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
                    for v in values {
                        encode_value(out, v);
                    }
                }
                None => {
                    out.extend_from_slice(&a.len.to_le_bytes());
                    for _ in 0..a.len {
                        match a.element_type.fixed_size() {
                            Some(size) => out.extend(std::iter::repeat_n(0u8, size as usize)),
                            None if a.element_type == ValueType::String => encode_string(out, ""),
                            None => {
                                out.extend_from_slice(&ValueType::U8.tag().to_le_bytes());
                                out.extend_from_slice(&0u64.to_le_bytes());
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn array(element_type: ValueType, values: Vec<Value>) -> Value {
        Value::Array(Array {
            element_type,
            len: values.len() as u64,
            values: Some(values),
        })
    }

    /// Every value type, nested arrays, a long (skipped) string array and a chat template.
    fn sample() -> Vec<(&'static str, Value)> {
        vec![
            ("general.architecture", Value::String("qwen2".into())),
            ("general.name", Value::String("Tiny Test Coder".into())),
            ("qwen2.context_length", Value::U32(32768)),
            ("general.file_type", Value::U32(15)),
            ("t.u8", Value::U8(200)),
            ("t.i8", Value::I8(-5)),
            ("t.u16", Value::U16(65000)),
            ("t.i16", Value::I16(-30000)),
            ("t.i32", Value::I32(-7)),
            ("t.f32", Value::F32(1.5)),
            ("t.bool", Value::Bool(true)),
            ("t.u64", Value::U64(u64::MAX)),
            ("t.i64", Value::I64(i64::MIN)),
            ("t.f64", Value::F64(-2.25)),
            ("t.unicode", Value::String("héllo ✓".into())),
            (
                "t.ints",
                array(ValueType::I32, vec![Value::I32(1), Value::I32(-2)]),
            ),
            (
                "t.nested",
                array(
                    ValueType::Array,
                    vec![
                        array(ValueType::String, vec![Value::String("a".into())]),
                        array(ValueType::Bool, vec![]),
                    ],
                ),
            ),
            (
                "tokenizer.ggml.tokens",
                Value::Array(Array {
                    element_type: ValueType::String,
                    len: 1100,
                    values: None,
                }),
            ),
            (
                "tokenizer.ggml.token_type",
                Value::Array(Array {
                    element_type: ValueType::I32,
                    len: 1100,
                    values: None,
                }),
            ),
            (
                "t.long_nested",
                Value::Array(Array {
                    element_type: ValueType::Array,
                    len: 1100,
                    values: None,
                }),
            ),
            (
                "tokenizer.chat_template",
                Value::String("{% for m in messages %}{{ m.content }}{% endfor %}".into()),
            ),
        ]
    }

    #[test]
    fn reads_every_value_type_back() {
        let kv = sample();
        let mut bytes = encode(3, 7, &kv);
        bytes.extend_from_slice(b"tensor infos follow and are not read");
        let meta = read(&bytes[..]).unwrap();
        assert_eq!(meta.version, 3);
        assert_eq!(meta.tensor_count, 7);
        assert_eq!(meta.kv.len(), kv.len());
        for ((k, v), (rk, rv)) in kv.iter().zip(&meta.kv) {
            assert_eq!(k, rk);
            assert_eq!(v, rv, "{k}");
        }
        assert_eq!(meta.architecture(), Some("qwen2"));
        assert_eq!(meta.name(), Some("Tiny Test Coder"));
        assert_eq!(meta.context_length(), Some(32768));
        assert_eq!(meta.quantization(), Some("Q4_K_M"));
        assert!(meta.chat_template().unwrap().contains("messages"));
        assert_eq!(meta.get_u64("t.i8"), None);
        assert_eq!(meta.get("t.bool").and_then(Value::as_bool), Some(true));
    }

    #[test]
    fn version_2_reads_and_others_do_not() {
        assert_eq!(read(&encode(2, 0, &[])[..]).unwrap().version, 2);
        for version in [1, 4, 0x0300_0000] {
            let err = read(&encode(version, 0, &[])[..]).unwrap_err();
            assert!(
                matches!(err, GgufError::UnsupportedVersion(v) if v == version),
                "{err}"
            );
        }
    }

    #[test]
    fn not_gguf_says_what_it_found() {
        let err = read(&b"PK\x03\x04rest"[..]).unwrap_err();
        assert!(err.to_string().contains("not a GGUF file"), "{err}");
        let err = read(&b""[..]).unwrap_err();
        assert!(matches!(err, GgufError::NotGguf { .. }), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(3, 1, &sample());
        // Every cut in the first 2 KB (all the small values), then a stride through the
        // skipped arrays, and the last bytes.
        let cuts = (4..2048)
            .chain((2048..bytes.len()).step_by(61))
            .chain(bytes.len() - 64..bytes.len());
        for len in cuts {
            let err = read(&bytes[..len]).unwrap_err();
            assert!(
                matches!(err, GgufError::Truncated { .. }),
                "cut at {len}: {err}"
            );
        }
        let err = read(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(
            err.to_string().contains("tokenizer.chat_template"),
            "names the key being read: {err}"
        );
    }

    #[test]
    fn absurd_lengths_are_corrupt_not_allocations() {
        // A key whose length claims 2^62 bytes.
        let mut bytes = encode(3, 0, &[]);
        bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(matches!(
            read(&bytes[..]).unwrap_err(),
            GgufError::Corrupt { .. }
        ));
        // A u64 array whose byte length overflows.
        let mut bytes = encode(3, 0, &[("a", Value::U8(0))]);
        let value_at = bytes.len() - 5; // the tag, then the one byte
        bytes.truncate(value_at);
        bytes.extend_from_slice(&9u32.to_le_bytes());
        bytes.extend_from_slice(&10u32.to_le_bytes());
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let err = read(&bytes[..]).unwrap_err();
        assert!(err.to_string().contains("impossibly long"), "{err}");
        // Deep nesting.
        let mut bytes = encode(3, 0, &[("a", Value::U8(0))]);
        bytes.truncate(value_at);
        bytes.extend_from_slice(&9u32.to_le_bytes());
        for _ in 0..100 {
            bytes.extend_from_slice(&9u32.to_le_bytes());
            bytes.extend_from_slice(&1u64.to_le_bytes());
        }
        let err = read(&bytes[..]).unwrap_err();
        assert!(err.to_string().contains("nested too deep"), "{err}");
    }

    #[test]
    fn read_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.gguf");
        std::fs::write(&path, &encode(3, 0, &sample())[..40]).unwrap();
        let err = read_file(&path).unwrap_err();
        assert!(err.to_string().contains("broken.gguf"), "{err}");
        assert!(read_file(&dir.path().join("missing.gguf")).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = encode(3, 1, &[]);
            bytes.truncate(16);
            bytes.extend_from_slice(&tail);
            let _ = read(&bytes[..]);
            let _ = read(&tail[..]);
        }

        #[test]
        fn mutated_files_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = encode(3, 2, &sample());
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let len = cut.index(bytes.len() + 1);
            let _ = read(&bytes[..len]);
        }
    }
}
