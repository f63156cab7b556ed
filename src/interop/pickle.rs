//! A data-only reader of Python pickles: dicts, lists, tuples, numbers, strings, bytes
//! and NumPy arrays, protocols 2 to 5. Nothing is ever executed: the handful of
//! callables a NumPy pickle names (`_reconstruct`, `dtype`, `_frombuffer`, ...) are
//! recognised by name and their effect is rebuilt here; any other name is an error
//! that says what the file asked for.

use std::collections::HashMap;

/// A value read from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// `bytes` or `bytearray`.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict (or OrderedDict), in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A set or frozenset.
    Set(Vec<Value>),
    /// A NumPy array.
    Array(NdArray),
    /// A NumPy dtype (only meaningful inside an array's description).
    Dtype(Dtype),
    /// A name a later REDUCE will call (`module.name`).
    Global(String, String),
    /// An array whose contents a BUILD will fill in.
    PendingArray,
}

/// A NumPy array with its values widened to f64 (every dtype scrawl reads fits exactly,
/// except 64-bit integers above 2^53).
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// The element type as NumPy writes it (`<f4`, `>i4`, `|u1`).
    pub dtype: String,
    /// The values in C (row-major) order, whatever the order in the file.
    pub values: Vec<f64>,
}

/// A NumPy element type.
#[derive(Debug, Clone, PartialEq)]
pub struct Dtype {
    /// `f`, `i`, `u` or `b`.
    kind: char,
    /// Bytes per element.
    size: usize,
    /// `<`, `>` or `|`.
    order: char,
}

impl Dtype {
    fn parse(code: &str) -> Result<Dtype, String> {
        let (order, rest) = match code.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &code[1..]),
            _ => ('<', code),
        };
        let order = if order == '=' { '<' } else { order };
        let named = match rest {
            "float32" => "f4",
            "float64" => "f8",
            "int64" => "i8",
            "int32" => "i4",
            "uint8" => "u1",
            "bool" => "b1",
            other => other,
        };
        let mut chars = named.chars();
        let kind = chars.next().ok_or("an empty dtype")?;
        let size: usize = chars
            .as_str()
            .parse()
            .map_err(|_| format!("dtype '{code}'"))?;
        let ok = matches!(
            (kind, size),
            ('f', 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1)
        );
        if !ok {
            return Err(format!(
                "arrays of dtype '{code}' are not supported (float32/64, integers and bool are)"
            ));
        }
        Ok(Dtype { kind, size, order })
    }

    fn text(&self) -> String {
        let order = if self.size == 1 { '|' } else { self.order };
        format!("{order}{}{}", self.kind, self.size)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<f64>, String> {
        if !bytes.len().is_multiple_of(self.size) {
            return Err(format!(
                "{} bytes of array data are not a whole number of {}-byte elements",
                bytes.len(),
                self.size
            ));
        }
        let big = self.order == '>';
        Ok(bytes
            .chunks_exact(self.size)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..self.size].copy_from_slice(c);
                if big {
                    b[..self.size].reverse();
                }
                match (self.kind, self.size) {
                    ('f', 4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                    ('f', _) => f64::from_le_bytes(b),
                    ('u', _) | ('b', _) => u64::from_le_bytes(b) as f64,
                    (_, n) => {
                        // sign-extend an n-byte little-endian integer
                        let shift = 64 - 8 * n as u32;
                        ((i64::from_le_bytes(b) << shift) >> shift) as f64
                    }
                }
            })
            .collect())
    }
}

fn array_from(
    shape: Vec<usize>,
    dtype: &Dtype,
    fortran: bool,
    bytes: &[u8],
) -> Result<NdArray, String> {
    let mut values = dtype.decode(bytes)?;
    let count: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("an array shape that overflows")?;
    if count != values.len() {
        return Err(format!(
            "an array of shape {shape:?} needs {count} elements but its data holds {}",
            values.len()
        ));
    }
    if fortran && shape.len() > 1 {
        // Column-major to row-major: element (i0, i1, ...) sits at sum(i_k * stride_k)
        // with stride_0 = 1 in the file.
        let mut out = vec![0.0; count];
        let mut idx = vec![0usize; shape.len()];
        for slot in out.iter_mut() {
            let mut f = 0;
            let mut stride = 1;
            for (k, &i) in idx.iter().enumerate() {
                f += i * stride;
                stride *= shape[k];
            }
            *slot = values[f];
            for k in (0..shape.len()).rev() {
                idx[k] += 1;
                if idx[k] < shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        values = out;
    }
    Ok(NdArray {
        shape,
        dtype: dtype.text(),
        values,
    })
}

/// Parses a pickle into a [`Value`]. Errors say what went wrong and at which byte.
pub fn parse(data: &[u8]) -> Result<Value, String> {
    Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        depths: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copied: 0,
    }
    .run()
}

/// The deepest nesting of containers read. NumPy pickles nest a few levels; a pickle
/// nested a million deep would overflow the stack when its value is dropped.
pub const MAX_DEPTH: u32 = 100;
/// The most bytes (counting 32 per value) that memo GETs and DUPs may copy in all:
/// pickles share objects by reference, scrawl copies them, so a short pickle that
/// doubles a list over and over would otherwise fill memory.
pub const MAX_COPIED: usize = 1 << 28;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// How deep each stack entry's containers nest (0 for a scalar).
    depths: Vec<u32>,
    marks: Vec<usize>,
    memo: HashMap<u64, (Value, u32)>,
    /// Bytes copied so far (see [`MAX_COPIED`]).
    copied: usize,
}

/// A copy of `v`, adding its size to `copied` and refusing past [`MAX_COPIED`].
fn copy(copied: &mut usize, v: &Value, pos: usize) -> Result<Value, String> {
    *copied = copied.saturating_add(size_of(v));
    if *copied > MAX_COPIED {
        return Err(format!(
            "the pickle expands past {} MiB of copies by byte {pos}; refusing",
            MAX_COPIED >> 20
        ));
    }
    Ok(v.clone())
}

/// About how many bytes `v` holds.
fn size_of(v: &Value) -> usize {
    32 + match v {
        Value::Str(s) | Value::Global(s, _) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Tuple(items) | Value::List(items) | Value::Set(items) => {
            items.iter().map(size_of).sum()
        }
        Value::Dict(d) => d.iter().map(|(k, v)| size_of(k) + size_of(v)).sum(),
        Value::Array(a) => 8 * a.values.len(),
        _ => 0,
    }
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "the pickle is truncated: {n} bytes needed at byte {} but the file ends at {}",
                    self.pos,
                    self.data.len()
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        let b = self.take(n)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    fn line(&mut self) -> Result<String, String> {
        let start = self.pos;
        let rest = &self.data[start..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| {
            format!("the pickle is truncated: an unterminated line at byte {start}")
        })?;
        self.pos += n + 1;
        String::from_utf8(rest[..n].to_vec())
            .map_err(|_| format!("a line at byte {start} is not UTF-8"))
    }

    /// Pushes `v`, whose containers nest `depth` deep.
    fn push(&mut self, v: Value, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "containers nested more than {MAX_DEPTH} deep at byte {}",
                self.pos
            ));
        }
        self.stack.push(v);
        self.depths.push(depth);
        Ok(())
    }

    /// Pops the top value and how deep it nests.
    fn pop(&mut self) -> Result<(Value, u32), String> {
        match (self.stack.pop(), self.depths.pop()) {
            (Some(v), Some(d)) => Ok((v, d)),
            _ => Err(format!(
                "a malformed pickle: the stack is empty at byte {}",
                self.pos
            )),
        }
    }

    /// Pops everything above the last MARK, and the deepest nesting among it.
    fn pop_mark(&mut self) -> Result<(Vec<Value>, u32), String> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| format!("a malformed pickle: no MARK at byte {}", self.pos))?;
        if m > self.stack.len() {
            return Err(format!("a malformed pickle at byte {}", self.pos));
        }
        let depth = self.depths.split_off(m).into_iter().max().unwrap_or(0);
        Ok((self.stack.split_off(m), depth))
    }

    /// The top container now holds something `child` deep.
    fn deepen_top(&mut self, child: u32) -> Result<(), String> {
        let pos = self.pos;
        let top = self.depths.last_mut().expect("called after top()");
        *top = (*top).max(child + 1);
        if *top > MAX_DEPTH {
            return Err(format!(
                "containers nested more than {MAX_DEPTH} deep at byte {pos}"
            ));
        }
        Ok(())
    }

    /// A copy of the top value (counted against [`MAX_COPIED`]) and its depth.
    fn copy_top(&mut self) -> Result<(Value, u32), String> {
        let pos = self.pos;
        let (Some(v), Some(&d)) = (self.stack.last(), self.depths.last()) else {
            return Err(format!(
                "a malformed pickle: the stack is empty at byte {pos}"
            ));
        };
        Ok((copy(&mut self.copied, v, pos)?, d))
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        let pos = self.pos;
        self.stack
            .last_mut()
            .ok_or_else(|| format!("a malformed pickle: the stack is empty at byte {pos}"))
    }

    fn string(&mut self, n: usize) -> Result<Value, String> {
        let at = self.pos;
        let b = self.take(n)?.to_vec();
        String::from_utf8(b)
            .map(Value::Str)
            .map_err(|_| format!("a string at byte {at} is not UTF-8"))
    }

    fn run(mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = *self.take(1)?.first().expect("took one byte");
            match op {
                0x80 => {
                    let proto = self.uint(1)?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is newer than 5"));
                    }
                }
                0x95 => {
                    self.uint(8)?; // FRAME: a length hint only
                }
                b'.' => return self.pop().map(|(v, _)| v),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.push(Value::Dict(Vec::new()), 1)?,
                b']' => self.push(Value::List(Vec::new()), 1)?,
                b')' => self.push(Value::Tuple(Vec::new()), 1)?,
                b't' => {
                    let (items, d) = self.pop_mark()?;
                    self.push(Value::Tuple(items), d + 1)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(format!("a malformed pickle at byte {at}"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let depths = self.depths.split_off(self.depths.len() - n);
                    let d = depths.into_iter().max().unwrap_or(0);
                    self.push(Value::Tuple(items), d + 1)?;
                }
                b'l' => {
                    let (items, d) = self.pop_mark()?;
                    self.push(Value::List(items), d + 1)?;
                }
                b'd' => {
                    let (items, d) = self.pop_mark()?;
                    self.push(Value::Dict(pairs(items, at)?), d + 1)?;
                }
                b'a' => {
                    let (v, d) = self.pop()?;
                    match self.top()? {
                        Value::List(l) => l.push(v),
                        _ => return Err(format!("APPEND to a non-list at byte {at}")),
                    }
                    self.deepen_top(d)?;
                }
                b'e' => {
                    let (items, d) = self.pop_mark()?;
                    match self.top()? {
                        Value::List(l) => l.extend(items),
                        _ => return Err(format!("APPENDS to a non-list at byte {at}")),
                    }
                    self.deepen_top(d)?;
                }
                b's' => {
                    let (v, dv) = self.pop()?;
                    let (k, dk) = self.pop()?;
                    match self.top()? {
                        Value::Dict(d) => d.push((k, v)),
                        _ => return Err(format!("SETITEM on a non-dict at byte {at}")),
                    }
                    self.deepen_top(dv.max(dk))?;
                }
                b'u' => {
                    let (items, d) = self.pop_mark()?;
                    let kv = pairs(items, at)?;
                    match self.top()? {
                        Value::Dict(d) => d.extend(kv),
                        _ => return Err(format!("SETITEMS on a non-dict at byte {at}")),
                    }
                    self.deepen_top(d)?;
                }
                0x8f => self.push(Value::Set(Vec::new()), 1)?,
                0x90 => {
                    let (items, d) = self.pop_mark()?;
                    match self.top()? {
                        Value::Set(s) => s.extend(items),
                        _ => return Err(format!("ADDITEMS on a non-set at byte {at}")),
                    }
                    self.deepen_top(d)?;
                }
                0x91 => {
                    let (items, d) = self.pop_mark()?;
                    self.push(Value::Set(items), d + 1)?;
                }
                b'N' => self.push(Value::None, 0)?,
                0x88 => self.push(Value::Bool(true), 0)?,
                0x89 => self.push(Value::Bool(false), 0)?,
                b'J' => {
                    let v = self.uint(4)? as u32 as i32;
                    self.push(Value::Int(v as i64), 0)?;
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.push(Value::Int(v as i64), 0)?;
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.push(Value::Int(v as i64), 0)?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.uint(1)?
                    } else {
                        self.uint(4)?
                    } as usize;
                    if n > 8 {
                        return Err(format!(
                            "an integer of {n} bytes at byte {at} does not fit 64 bits"
                        ));
                    }
                    let b = self.take(n)?;
                    let mut v = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        [0xffu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    v[..n].copy_from_slice(b);
                    self.push(Value::Int(i64::from_le_bytes(v)), 0)?;
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    let t = line.trim_end_matches('L');
                    let v = match t {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => Value::Int(t.parse().map_err(|_| {
                            format!(
                                "a bad integer '{}' at byte {at}",
                                crate::files::clip(&line, 40)
                            )
                        })?),
                    };
                    self.push(v, 0)?;
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.push(Value::Float(v), 0)?;
                }
                b'F' => {
                    let line = self.line()?;
                    let v = line.parse().map_err(|_| {
                        format!(
                            "a bad float '{}' at byte {at}",
                            crate::files::clip(&line, 40)
                        )
                    })?;
                    self.push(Value::Float(v), 0)?;
                }
                b'X' => {
                    let n = self.uint(4)? as usize;
                    let v = self.string(n)?;
                    self.push(v, 0)?;
                }
                0x8c => {
                    let n = self.uint(1)? as usize;
                    let v = self.string(n)?;
                    self.push(v, 0)?;
                }
                0x8d => {
                    let n = self.uint(8)? as usize;
                    let v = self.string(n)?;
                    self.push(v, 0)?;
                }
                b'V' => {
                    let line = self.line()?;
                    self.push(Value::Str(line), 0)?;
                }
                b'T' | b'B' => {
                    let n = self.uint(4)? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b), 0)?;
                }
                b'U' | b'C' => {
                    let n = self.uint(1)? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b), 0)?;
                }
                0x8e | 0x96 => {
                    let n = self.uint(8)? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b), 0)?;
                }
                0x97 => {
                    return Err(format!(
                        "the pickle refers to an out-of-band buffer (protocol 5 NEXT_BUFFER at byte {at}); pickle it without buffer_callback"
                    ));
                }
                0x98 => {} // READONLY_BUFFER: no effect on data
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(module, name), 0)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module.0, name.0) {
                        (Value::Str(m), Value::Str(n)) => self.push(Value::Global(m, n), 0)?,
                        _ => return Err(format!("STACK_GLOBAL without two strings at byte {at}")),
                    }
                }
                b'R' | 0x81 => {
                    // REDUCE and NEWOBJ: what they make holds at most the arguments.
                    let (args, d) = self.pop()?;
                    let (callable, _) = self.pop()?;
                    let v = reduce(callable, args, at)?;
                    self.push(v, d)?;
                }
                b'b' => {
                    let (state, ds) = self.pop()?;
                    let (target, dt) = self.pop()?;
                    let v = build(target, state, at)?;
                    self.push(v, ds.max(dt))?;
                }
                b'p' => {
                    let line = self.line()?;
                    let k = line
                        .parse()
                        .map_err(|_| format!("a bad PUT at byte {at}"))?;
                    let v = self.copy_top()?;
                    self.memo.insert(k, v);
                }
                b'q' | b'r' => {
                    let k = if op == b'q' {
                        self.uint(1)?
                    } else {
                        self.uint(4)?
                    };
                    let v = self.copy_top()?;
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    let v = self.copy_top()?;
                    self.memo.insert(k, v);
                }
                b'g' | b'h' | b'j' => {
                    let k = match op {
                        b'g' => {
                            let line = self.line()?;
                            line.parse()
                                .map_err(|_| format!("a bad GET at byte {at}"))?
                        }
                        b'h' => self.uint(1)?,
                        _ => self.uint(4)?,
                    };
                    let (v, d) = self.memo.get(&k).ok_or_else(|| {
                        format!("a malformed pickle: memo {k} unset at byte {at}")
                    })?;
                    let (v, d) = (copy(&mut self.copied, v, at)?, *d);
                    self.push(v, d)?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let (v, d) = self.copy_top()?;
                    self.push(v, d)?;
                }
                b'P' | b'Q' => {
                    return Err(format!(
                        "the pickle uses persistent ids (byte {at}), as PyTorch's .pt files do; scrawl reads plain pickles of NumPy arrays"
                    ));
                }
                other => {
                    return Err(format!(
                        "opcode 0x{other:02x} at byte {at} is not one scrawl reads (it may not be a pickle, or it holds objects other than data)"
                    ));
                }
            }
        }
    }
}

fn pairs(items: Vec<Value>, at: usize) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err(format!("a dict with an odd number of items at byte {at}"));
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn is(m: &str, n: &str, module: &[&str], name: &str) -> bool {
    n == name && module.contains(&m)
}

const MULTIARRAY: [&str; 2] = ["numpy.core.multiarray", "numpy._core.multiarray"];
const NUMERIC: [&str; 2] = ["numpy.core.numeric", "numpy._core.numeric"];

/// What calling a recognised global with `args` would produce.
fn reduce(callable: Value, args: Value, at: usize) -> Result<Value, String> {
    let Value::Global(m, n) = callable else {
        return Err(format!(
            "REDUCE of something that is not a name at byte {at}"
        ));
    };
    let args = match args {
        Value::Tuple(a) => a,
        _ => {
            return Err(format!(
                "REDUCE with arguments that are not a tuple at byte {at}"
            ));
        }
    };
    let bad = |what: &str| format!("{m}.{n} at byte {at}: {what}");
    if is(&m, &n, &MULTIARRAY, "_reconstruct") || (m == "numpy" && n == "ndarray") {
        return Ok(Value::PendingArray);
    }
    if m == "numpy" && n == "dtype" {
        let Some(Value::Str(code)) = args.first() else {
            return Err(bad("expected a dtype code"));
        };
        return Dtype::parse(code).map(Value::Dtype).map_err(|e| bad(&e));
    }
    if is(&m, &n, &NUMERIC, "_frombuffer") {
        let [
            Value::Bytes(buf),
            Value::Dtype(dt),
            shape,
            Value::Str(order),
        ] = args.as_slice()
        else {
            return Err(bad("expected (buffer, dtype, shape, order)"));
        };
        let shape = shape_of(shape).ok_or_else(|| bad("a bad shape"))?;
        return array_from(shape, dt, order == "F", buf)
            .map(Value::Array)
            .map_err(|e| bad(&e));
    }
    if is(&m, &n, &MULTIARRAY, "scalar") {
        let [Value::Dtype(dt), Value::Bytes(b)] = args.as_slice() else {
            return Err(bad("expected (dtype, bytes)"));
        };
        let v = dt.decode(b).map_err(|e| bad(&e))?;
        return match (v.as_slice(), dt.kind) {
            ([x], 'f') => Ok(Value::Float(*x)),
            ([x], _) => Ok(Value::Int(*x as i64)),
            _ => Err(bad("a scalar with more than one value")),
        };
    }
    if m == "_codecs" && n == "encode" {
        // Protocol 2's spelling of bytes: encode(text, 'latin1').
        let Some(Value::Str(s)) = args.first() else {
            return Err(bad("expected a string"));
        };
        return s
            .chars()
            .map(|c| u8::try_from(c as u32).map_err(|_| bad("a character outside latin-1")))
            .collect::<Result<Vec<u8>, String>>()
            .map(Value::Bytes);
    }
    if m == "collections" && n == "OrderedDict" {
        return Ok(Value::Dict(Vec::new()));
    }
    if (m == "builtins" || m == "__builtin__") && (n == "bytearray" || n == "bytes") {
        return match args.first() {
            None => Ok(Value::Bytes(Vec::new())),
            Some(Value::Bytes(b)) => Ok(Value::Bytes(b.clone())),
            _ => Err(bad("expected bytes")),
        };
    }
    Err(format!(
        "the pickle calls {m}.{n} (byte {at}); scrawl never runs code from a pickle and reads only dicts, lists, numbers, strings and NumPy arrays"
    ))
}

fn shape_of(v: &Value) -> Option<Vec<usize>> {
    match v {
        Value::Tuple(t) | Value::List(t) => t
            .iter()
            .map(|d| match d {
                Value::Int(i) if *i >= 0 => Some(*i as usize),
                _ => None,
            })
            .collect(),
        Value::Int(i) if *i >= 0 => Some(vec![*i as usize]),
        _ => None,
    }
}

/// BUILD: sets an object's state. Only NumPy arrays and dtypes have one here.
fn build(target: Value, state: Value, at: usize) -> Result<Value, String> {
    match target {
        Value::PendingArray => {
            let Value::Tuple(mut s) = state else {
                return Err(format!("an array's state is not a tuple at byte {at}"));
            };
            if s.len() == 5 {
                s.remove(0); // the version number
            }
            let [shape, Value::Dtype(dt), Value::Bool(fortran), data] = s.as_slice() else {
                return Err(format!("an array state NumPy does not write at byte {at}"));
            };
            let shape = shape_of(shape).ok_or_else(|| format!("a bad array shape at byte {at}"))?;
            let bytes = match data {
                Value::Bytes(b) => b.clone(),
                _ => {
                    return Err(format!(
                        "array data that is not raw bytes at byte {at} (an object array?)"
                    ));
                }
            };
            array_from(shape, dt, *fortran, &bytes)
                .map(Value::Array)
                .map_err(|e| format!("an array at byte {at}: {e}"))
        }
        Value::Dtype(mut dt) => {
            // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
            if let Value::Tuple(s) = &state
                && let Some(Value::Str(order)) = s.get(1)
                && let Some(c) = order.chars().next()
            {
                dt.order = if c == '=' { '<' } else { c };
            }
            Ok(Value::Dtype(dt))
        }
        Value::Dict(d) => Ok(Value::Dict(d)),
        other => Err(format!(
            "BUILD on {} at byte {at}: not something scrawl reads",
            kind(&other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an int",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Tuple(_) => "a tuple",
        Value::List(_) => "a list",
        Value::Dict(_) => "a dict",
        Value::Set(_) => "a set",
        Value::Array(_) => "an array",
        Value::Dtype(_) => "a dtype",
        Value::Global(..) => "a name",
        Value::PendingArray => "an array",
    }
}

impl Value {
    /// The value under string key `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}
