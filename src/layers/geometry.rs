//! Window geometry shared by the convolution and pooling layers: Keras's `padding`
//! and the `(rows, cols)` pairs that may be written as one number.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keras's `padding`: `valid` (windows lie inside the image) or `same` (the output
/// has `ceil(input / stride)` positions, padded as TensorFlow pads: the extra on the
/// bottom and right); or, as PyTorch writes it, a number of cells on each side of
/// each axis (`2`, or `[1, 2]` for rows and columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding.
    #[default]
    Valid,
    /// Zero padding (convolution) or ignored cells (pooling) around the edges.
    Same,
    /// `[rows, cols]` cells before and after each axis: zeros for a convolution,
    /// ignored cells for pooling.
    Explicit(Size2),
}

/// The most cells of explicit padding on one side of an axis.
pub const MAX_PADDING: usize = 4096;

impl Padding {
    /// The padding of one axis (0: rows, 1: columns).
    pub fn along(self, axis: usize) -> AxisPadding {
        match self {
            Padding::Valid => AxisPadding::Valid,
            Padding::Same => AxisPadding::Same,
            Padding::Explicit(cells) => AxisPadding::Cells(cells.0[axis.min(1)]),
        }
    }
}

/// One axis's share of a [`Padding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisPadding {
    /// No padding.
    Valid,
    /// TensorFlow's `same`.
    Same,
    /// This many cells before and after.
    Cells(usize),
}

impl std::fmt::Display for Padding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Padding::Valid => f.write_str("valid"),
            Padding::Same => f.write_str("same"),
            Padding::Explicit(Size2([r, c])) if r == c => write!(f, "{r}"),
            Padding::Explicit(Size2([r, c])) => write!(f, "({r}, {c})"),
        }
    }
}

impl Serialize for Padding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Padding::Valid => s.serialize_str("valid"),
            Padding::Same => s.serialize_str("same"),
            Padding::Explicit(cells) => cells.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Padding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Name(String),
            One(usize),
            Two([usize; 2]),
        }
        let bad = || {
            serde::de::Error::custom(
                "expected a padding: \"valid\", \"same\", a number of cells such as 2, or a pair such as [1, 2]",
            )
        };
        let padding = match Form::deserialize(d).map_err(|_| bad())? {
            Form::Name(name) => match name.to_ascii_lowercase().as_str() {
                "valid" => Padding::Valid,
                "same" => Padding::Same,
                _ => return Err(bad()),
            },
            Form::One(n) => Padding::Explicit(Size2([n, n])),
            Form::Two(p) => Padding::Explicit(Size2(p)),
        };
        if let Padding::Explicit(Size2(cells)) = padding
            && cells.iter().any(|&c| c > MAX_PADDING)
        {
            return Err(serde::de::Error::custom(format!(
                "a padding of at most {MAX_PADDING} cells a side, got {cells:?}"
            )));
        }
        Ok(padding)
    }
}

/// A `(rows, cols)` pair, such as a kernel size or strides. In JSON it is either one
/// number (`3`, meaning 3×3) or a pair (`[3, 3]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size2(pub [usize; 2]);

impl Size2 {
    /// `n × n`.
    pub const fn square(n: usize) -> Self {
        Size2([n, n])
    }
}

impl std::fmt::Display for Size2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.0[0], self.0[1])
    }
}

impl Serialize for Size2 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Size2 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(usize),
            Two([usize; 2]),
        }
        match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a size: a number such as 3, or a pair such as [3, 3]",
            )
        })? {
            Form::One(n) => Ok(Size2([n, n])),
            Form::Two(p) => Ok(Size2(p)),
        }
    }
}

/// `ZeroPadding2D`'s margins, `[[top, bottom], [left, right]]` cells. In JSON, as
/// Keras writes them: one number (every side), a pair `[rows, cols]` (each
/// symmetric), or `[[top, bottom], [left, right]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Margins(pub [[usize; 2]; 2]);

impl Serialize for Margins {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Margins {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(usize),
            Two([usize; 2]),
            Four([[usize; 2]; 2]),
        }
        let margins = match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected margins: a number such as 2, a pair [rows, cols] such as [1, 2], or [[top, bottom], [left, right]]",
            )
        })? {
            Form::One(n) => [[n, n], [n, n]],
            Form::Two([r, c]) => [[r, r], [c, c]],
            Form::Four(m) => m,
        };
        if margins.iter().flatten().any(|&m| m > MAX_PADDING) {
            return Err(serde::de::Error::custom(format!(
                "margins of at most {MAX_PADDING} cells a side, got {margins:?}"
            )));
        }
        Ok(Margins(margins))
    }
}

/// Where the windows of one axis fall: the output length and the padding before the
/// first input cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axis {
    /// Input length.
    pub input: usize,
    /// Output length.
    pub output: usize,
    /// Window length.
    pub window: usize,
    /// Step between windows.
    pub stride: usize,
    /// Padding cells before the first input cell.
    pub pad: usize,
}

impl Axis {
    /// The geometry of windows of `window` cells every `stride` cells over `input`
    /// cells, as TensorFlow computes it. `None` when no window fits.
    pub fn new(input: usize, window: usize, stride: usize, padding: AxisPadding) -> Option<Self> {
        if window == 0 || stride == 0 || input == 0 {
            return None;
        }
        let (output, pad) = match padding {
            AxisPadding::Valid => {
                if input < window {
                    return None;
                }
                ((input - window) / stride + 1, 0)
            }
            AxisPadding::Cells(pad) => {
                let padded = input.checked_add(pad.checked_mul(2)?)?;
                if padded < window {
                    return None;
                }
                ((padded - window) / stride + 1, pad)
            }
            AxisPadding::Same => {
                let output = input.div_ceil(stride);
                let total = ((output - 1) * stride + window).saturating_sub(input);
                (output, total / 2)
            }
        };
        Some(Axis {
            input,
            output,
            window,
            stride,
            pad,
        })
    }

    /// Padding after the last input (TensorFlow puts the odd one at the end): with
    /// `pad` before, the windows cover `pad + input + pad_after` exactly.
    pub fn pad_after(&self) -> usize {
        ((self.output - 1) * self.stride + self.window)
            .saturating_sub(self.input)
            .saturating_sub(self.pad)
    }

    /// The window cells `[lo, hi)` of output position `o` that fall inside the input,
    /// and the input index of window cell 0 (which may lie in the padding).
    #[inline]
    pub fn span(&self, o: usize) -> (usize, usize, isize) {
        let start = (o * self.stride) as isize - self.pad as isize;
        let lo = (-start).max(0) as usize;
        let hi = ((self.input as isize - start).max(0) as usize).min(self.window);
        (lo.min(hi), hi, start)
    }
}
