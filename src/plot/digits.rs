//! Digits as pictures: one upscaled image, or a grid of them with captions.
//! Pixels are drawn as solid squares (nearest neighbour), never smoothed, so what you
//! see is exactly the 28x28 the model sees. Ink is dark on white, like matplotlib's
//! `cmap='binary'`.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Drawn, Figure};

/// One image with its caption.
#[derive(Debug, Clone)]
pub struct DigitTile {
    /// Grey levels, `rows * cols` bytes, row-major (0 = background, 255 = ink).
    pub pixels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Text above the image ("5", "7 → 2 (0.93)").
    pub caption: String,
    /// Draw the caption in red (a mistake in a gallery of predictions).
    pub alert: bool,
}

/// Images laid out in a grid, `cols` to a row, each drawn `scale` times its size.
#[derive(Debug, Clone)]
pub struct DigitGrid {
    /// A title over the whole figure, if any.
    pub title: Option<String>,
    /// The images, row by row.
    pub tiles: Vec<DigitTile>,
    /// Images per row.
    pub cols: usize,
    /// Screen pixels per image pixel.
    pub scale: u32,
}

const PAD: u32 = 8;
/// The height of one line of the title.
const TITLE_LINE: u32 = 28;

impl DigitGrid {
    fn cell(&self) -> (u32, u32, u32) {
        let (r, c) = self
            .tiles
            .iter()
            .fold((1, 1), |(r, c), t| (r.max(t.rows), c.max(t.cols)));
        let lines = self.tiles.iter().map(|t| t.caption.lines().count()).max();
        let caption = self.line_height() * lines.unwrap_or(0) as u32;
        (c as u32 * self.scale, r as u32 * self.scale, caption)
    }

    /// The height of one line of a caption (captions may have several, `\n` apart).
    fn line_height(&self) -> u32 {
        (self.scale * 2).clamp(16, 24)
    }

    fn title_height(&self) -> u32 {
        match self.title_lines().len() {
            0 => 0,
            n => 12 + TITLE_LINE * n as u32,
        }
    }

    /// The figure's width, which the title does not widen past 320 pixels.
    fn width(&self) -> u32 {
        let (w, _, _) = self.cell();
        let cols = self.cols.clamp(1, self.tiles.len().max(1)) as u32;
        (cols * (w + PAD) + PAD).max(if self.title.is_some() { 320 } else { 0 })
    }

    /// The title, its lines (`\n`) wrapped at spaces to fit the width (a long title
    /// over a narrow grid would be cut at both edges).
    fn title_lines(&self) -> Vec<String> {
        let Some(title) = &self.title else {
            return Vec::new();
        };
        // DejaVu Sans at 22 px averages under 12 px a character.
        let fits = ((self.width().saturating_sub(2 * PAD)) / 12).max(10) as usize;
        let mut lines = Vec::new();
        for given in title.lines() {
            let mut line = String::new();
            for word in given.split(' ') {
                if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > fits {
                    lines.push(std::mem::take(&mut line));
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
            }
            lines.push(line);
        }
        lines
    }

    fn rows(&self) -> u32 {
        self.tiles.len().div_ceil(self.cols.max(1)).max(1) as u32
    }
}

impl Figure for DigitGrid {
    fn size(&self) -> (u32, u32) {
        let (_, h, caption) = self.cell();
        let height = self.title_height() + self.rows() * (h + caption + PAD) + PAD;
        (self.width(), height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let (w, h, caption) = self.cell();
        let (width, _) = self.size();
        let cols = self.cols.max(1);
        for (k, line) in self.title_lines().iter().enumerate() {
            let style = ("sans-serif", 22)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let y = 22 + (k as u32 * TITLE_LINE) as i32;
            root.draw(&Text::new(line.as_str(), (width as i32 / 2, y), style))?;
        }
        let s = self.scale as i32;
        for (i, tile) in self.tiles.iter().enumerate() {
            let x0 = (PAD + (i % cols) as u32 * (w + PAD)) as i32;
            let y0 = (self.title_height() + PAD + (i / cols) as u32 * (h + caption + PAD)) as i32;
            let line = self.line_height() as i32;
            for (k, text) in tile.caption.lines().enumerate() {
                let color = if tile.alert { RED } else { BLACK };
                let style = ("sans-serif", line as f64 * 0.8)
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let y = y0 + line * k as i32 + line / 2;
                root.draw(&Text::new(text, (x0 + w as i32 / 2, y), style))?;
            }
            let top = y0 + caption as i32;
            root.draw(&Rectangle::new(
                [
                    (x0 - 1, top - 1),
                    (x0 + (tile.cols as i32) * s, top + (tile.rows as i32) * s),
                ],
                RGBColor(200, 200, 200).stroke_width(1),
            ))?;
            for (k, &p) in tile.pixels.iter().enumerate().take(tile.rows * tile.cols) {
                if p == 0 {
                    continue;
                }
                let (r, c) = ((k / tile.cols) as i32, (k % tile.cols) as i32);
                let ink = 255 - p;
                root.draw(&Rectangle::new(
                    [
                        (x0 + c * s, top + r * s),
                        (x0 + (c + 1) * s, top + (r + 1) * s),
                    ],
                    RGBColor(ink, ink, ink).filled(),
                ))?;
            }
        }
        Ok(())
    }
}
