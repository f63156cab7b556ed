//! Charts and pictures: label counts, digits, (later) training curves and reports.
//!
//! Every figure implements [`Figure`], drawing onto any plotters backend; [`save`]
//! picks PNG or SVG from the file extension and writes the file atomically. Text uses
//! DejaVu Sans compiled into the binary, so charts look the same on a machine with no
//! fonts installed (a CI box, a container).

mod bars;
mod curves;
mod digits;
mod heatmap;
mod lr_finder;
mod text;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

pub use bars::LabelCountsChart;
pub use curves::TrainingCurves;
pub use digits::{DigitGrid, DigitTile};
pub use heatmap::ConfusionHeatmap;
pub use lr_finder::LrFinderChart;

/// DejaVu Sans (Bitstream Vera licence, see assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// What a figure's drawing code returns; any plotters error, boxed.
pub type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// Something that can be drawn onto a canvas of its own size.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws onto `root`, already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static;
}

/// The image formats [`save`] writes, from the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A PNG raster.
    Png,
    /// An SVG vector image.
    Svg,
}

impl Format {
    /// The format `path` asks for by its extension.
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(Error::config(format!(
                "{}: give the image a .png or .svg name, scrawl writes those two formats",
                path.display()
            ))),
        }
    }
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are compiled in and known good; a failure here is a build error.
            plotters::style::register_font("sans-serif", style, FONT)
                .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font does not parse"));
        }
    });
}

/// Draws `figure` into `path` (`.png` or `.svg`), replacing any file there only once
/// the new one is complete.
pub fn save(figure: &impl Figure, path: &Path) -> Result<()> {
    let bytes = render(figure, Format::of(path)?).map_err(|msg| Error::Plot {
        path: path.to_path_buf(),
        msg,
    })?;
    crate::files::write_atomic(path, &bytes)
}

/// Draws `figure` in `format` and returns the file's bytes.
pub fn render(figure: &impl Figure, format: Format) -> std::result::Result<Vec<u8>, String> {
    register_font();
    let (w, h) = figure.size();
    if w == 0 || h == 0 || w > 16_384 || h > 16_384 {
        return Err(format!("a {w}x{h} image is outside 1-16384 pixels a side"));
    }
    match format {
        Format::Png => {
            let mut pixels = vec![255u8; w as usize * h as usize * 3];
            {
                let root = text::Bitmap::new(&mut pixels, (w, h), FONT).into_drawing_area();
                root.fill(&WHITE).map_err(|e| e.to_string())?;
                figure.draw(&root).map_err(|e| e.to_string())?;
                root.present().map_err(|e| e.to_string())?;
            }
            encode_png(&pixels, w, h)
        }
        Format::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| e.to_string())?;
                figure.draw(&root).map_err(|e| e.to_string())?;
                root.present().map_err(|e| e.to_string())?;
            }
            Ok(text.into_bytes())
        }
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> std::result::Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The series colours, in order (matplotlib's first ones: blue, orange, green, red...).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
