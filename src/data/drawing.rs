//! Turning a real drawing or photo of a digit into what MNIST looks like, the way
//! MNIST itself was made: grey levels, white ink on black, cropped to the ink, the
//! longer side scaled to 20 pixels with anti-aliasing, and placed in a 28x28 frame
//! with its centre of mass at the centre.

use std::io::Cursor;
use std::path::Path;

use image::imageops::FilterType;
use image::{GrayImage, ImageReader, Luma};

use crate::error::{Error, Result};

/// The largest image accepted, per side, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// The largest image file accepted, in bytes.
pub const MAX_BYTES: usize = 32 << 20;

/// Ink fainter than this (grey levels away from the background) counts as blank.
pub const BLANK_INK: u8 = 48;

/// What preprocessing found.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// A digit: 784 grey levels, row by row, white ink on black.
    Digit {
        /// The 28x28 image.
        pixels: Vec<u8>,
        /// The input had a light background and was inverted.
        inverted: bool,
    },
    /// No ink to speak of: nothing to classify.
    Blank,
}

/// An image's size, read from its header before any pixel is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes of its pixels as decoded (before the conversion to grey).
    pub decoded_bytes: u64,
}

impl Measured {
    /// Pixels in all.
    pub fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// The most memory [`decode`] then [`mnistify`] hold at once for this image: the
    /// decoded pixels, an RGBA copy and the grey image (5 bytes a pixel) while
    /// converting, then the grey image, its ink as `f32` and the crop (6 a pixel).
    pub fn working_bytes(&self) -> u64 {
        self.decoded_bytes + 6 * self.pixels()
    }
}

fn reader<'a>(bytes: &'a [u8], what: &Path) -> Result<ImageReader<Cursor<&'a [u8]>>> {
    if bytes.len() > MAX_BYTES {
        return Err(Error::format(
            what,
            format!(
                "{} bytes is larger than the {} MiB scrawl accepts",
                bytes.len(),
                MAX_BYTES >> 20
            ),
        ));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::format(what, format!("cannot read it: {e}")))?;
    if reader.format().is_none() {
        return Err(Error::format(
            what,
            "not a readable image: not a PNG, JPEG or BMP image",
        ));
    }
    Ok(reader)
}

/// Reads an image's header only: its size and what decoding it costs, refusing
/// images over [`MAX_SIDE`] a side.
pub fn measure(bytes: &[u8], what: &Path) -> Result<Measured> {
    let decoder = reader(bytes, what)?
        .into_decoder()
        .map_err(|e| Error::format(what, format!("not a readable image: {e}")))?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    if width > MAX_SIDE || height > MAX_SIDE || width == 0 || height == 0 {
        return Err(Error::format(
            what,
            format!(
                "a {width}x{height} image is outside the 1-{MAX_SIDE} pixels a side scrawl accepts"
            ),
        ));
    }
    Ok(Measured {
        width,
        height,
        decoded_bytes: image::ImageDecoder::total_bytes(&decoder),
    })
}

/// Decodes PNG, JPEG or BMP bytes into grey levels, refusing images over
/// [`MAX_SIDE`] a side or [`MAX_BYTES`] before decoding their pixels.
pub fn decode(bytes: &[u8], what: &Path) -> Result<GrayImage> {
    measure(bytes, what)?;
    let mut reader = reader(bytes, what)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| Error::format(what, format!("not a readable image: {e}")))?;
    let gray = match img {
        image::DynamicImage::ImageLuma8(g) => g,
        other => {
            // Transparent pixels count as background: composite onto white. A browser
            // canvas sends RGBA, so this loop runs per request in `scrawl serve`.
            let rgba = other.into_rgba8();
            let (w, h) = rgba.dimensions();
            let data = rgba
                .as_raw()
                .chunks_exact(4)
                .map(|p| {
                    // Rec. 601 luma in fixed point (weights sum to 1000), then
                    // alpha-composited; integers so the loop vectorizes.
                    let [r, g, b, a] = [p[0], p[1], p[2], p[3]].map(u32::from);
                    let l = (299 * r + 587 * g + 114 * b + 500) / 1000;
                    ((l * a + 255 * (255 - a) + 127) / 255) as u8
                })
                .collect();
            GrayImage::from_raw(w, h, data).expect("one grey level per RGBA pixel")
        }
    };
    Ok(gray)
}

/// Reads an image file (see [`decode`]).
pub fn load(path: &Path) -> Result<GrayImage> {
    let bytes = crate::files::read_limited(path, MAX_BYTES as u64, "an image")?;
    decode(&bytes, path)
}

/// MNIST-style 28x28 from any grey image (see the module docs).
pub fn mnistify(img: &GrayImage) -> Prepared {
    let (w, h) = img.dimensions();
    // The background is what the border mostly is.
    let mut border: Vec<u8> = Vec::new();
    for x in 0..w {
        border.push(img.get_pixel(x, 0).0[0]);
        border.push(img.get_pixel(x, h - 1).0[0]);
    }
    for y in 0..h {
        border.push(img.get_pixel(0, y).0[0]);
        border.push(img.get_pixel(w - 1, y).0[0]);
    }
    border.sort_unstable();
    let background = border[border.len() / 2];
    let inverted = background > 127;
    // Ink = distance from the background, stretched so the darkest stroke is 255.
    let ink: Vec<f32> = img
        .pixels()
        .map(|p| (p.0[0] as f32 - background as f32).abs())
        .collect();
    let max = ink.iter().copied().fold(0.0f32, f32::max);
    if max < BLANK_INK as f32 {
        return Prepared::Blank;
    }
    let threshold = max * 0.1;
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    let mut count = 0usize;
    for y in 0..h {
        for x in 0..w {
            if ink[(y * w + x) as usize] >= threshold {
                count += 1;
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    // A speck (a few pixels of noise, a stray click) is not a digit.
    if count < 4 || count * 4000 < (w * h) as usize {
        return Prepared::Blank;
    }
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = 255.0 / max;
    let cropped = GrayImage::from_fn(cw, ch, |x, y| {
        let v = ink[((y + y0) * w + x + x0) as usize];
        // Faint noise below the threshold's half is dropped.
        let v = if v < threshold * 0.5 { 0.0 } else { v * scale };
        Luma([v.round().clamp(0.0, 255.0) as u8])
    });
    let (nw, nh) = if cw >= ch {
        (20, ((20 * ch) as f32 / cw as f32).round().max(1.0) as u32)
    } else {
        (((20 * cw) as f32 / ch as f32).round().max(1.0) as u32, 20)
    };
    let small = image::imageops::resize(&cropped, nw, nh, FilterType::Triangle);
    // Centre of mass of the 20-pixel box.
    let (mut sx, mut sy, mut sm) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in small.enumerate_pixels() {
        let m = p.0[0] as f64;
        sx += m * x as f64;
        sy += m * y as f64;
        sm += m;
    }
    if sm == 0.0 {
        return Prepared::Blank;
    }
    let (cx, cy) = (sx / sm, sy / sm);
    // MNIST's digits have their centre of mass at pixel index 14 (not 13.5): measured
    // over its test set, the mean is (14.01, 13.99).
    let ox = (14.0 - cx).round() as i64;
    let oy = (14.0 - cy).round() as i64;
    let mut pixels = vec![0u8; 784];
    for (x, y, p) in small.enumerate_pixels() {
        let (tx, ty) = (x as i64 + ox, y as i64 + oy);
        if (0..28).contains(&tx) && (0..28).contains(&ty) {
            pixels[(ty * 28 + tx) as usize] = p.0[0];
        }
    }
    Prepared::Digit { pixels, inverted }
}
