//! Window geometry shared by the convolution and pooling layers: Keras's `padding`
//! and the `(rows, cols)` pairs that may be written as one number.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keras's `padding`: `valid` (windows lie inside the image) or `same` (the output
/// has `ceil(input / stride)` positions, padded as TensorFlow pads: the extra on the
/// bottom and right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding.
    #[default]
    Valid,
    /// Zero padding (convolution) or ignored cells (pooling) around the edges.
    Same,
}

impl Padding {
    /// The Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
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
    pub fn new(input: usize, window: usize, stride: usize, padding: Padding) -> Option<Self> {
        if window == 0 || stride == 0 || input == 0 {
            return None;
        }
        let (output, pad) = match padding {
            Padding::Valid => {
                if input < window {
                    return None;
                }
                ((input - window) / stride + 1, 0)
            }
            Padding::Same => {
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
