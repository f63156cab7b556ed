//! Text on PNG pictures, placed glyph by glyph where the font says.
//!
//! plotters 0.3.7 draws each glyph of its ab_glyph fonts at the pen position but
//! leaves out the glyph's left side bearing (`px_bounds().min.x`): a glyph with a wide
//! bearing, as DejaVu Sans's "1" has, is drawn too far left and leaves a gap after it,
//! so 6131 reads "6 1 31" and 10000 "1 0000". [`Bitmap`] wraps plotters' bitmap
//! backend, hands it everything but text, and draws text itself with the bearing;
//! where a line of text goes (its box and anchor, rotation) is computed as plotters
//! computes it, so only the glyphs' horizontal placement changes. SVG pictures are
//! unaffected (the viewer lays out their text).

use ab_glyph::{Font, FontRef, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters::prelude::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

type Failure = DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// plotters' bitmap backend with text drawn by [`draw_glyphs`].
pub struct Bitmap<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> Bitmap<'a> {
    /// Draws into `buffer`, `size` pixels of RGB, with `font` for all text.
    pub fn new(buffer: &'a mut [u8], size: (u32, u32), font: &'static [u8]) -> Bitmap<'a> {
        Bitmap {
            inner: BitMapBackend::with_buffer(buffer, size),
            // The bytes are compiled in and known good; a failure here is a build error.
            font: FontRef::try_from_slice(font).expect("the embedded font parses"),
        }
    }
}

/// Calls `pixel(x, y, coverage)` for the pixels of `text` at `size` pixels, laid out
/// from the pen at (0, 0) as plotters lays it out (advances and kerning; the glyphs'
/// tops `size / 2` below their ascent), with each glyph's left side bearing.
pub fn draw_glyphs(
    font: &FontRef<'_>,
    size: f32,
    text: &str,
    mut pixel: impl FnMut(i32, i32, f32),
) {
    let scaled = font.as_scaled(size);
    let mut pen = 0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        prev = Some(id);
        if let Some(outline) = scaled.outline_glyph(scaled.scaled_glyph(c)) {
            let bounds = outline.px_bounds();
            let (x0, y0) = (
                (pen + bounds.min.x) as i32,
                (size / 2.0 + bounds.min.y) as i32,
            );
            outline.draw(|x, y, coverage| pixel(x0 + x as i32, y0 + y as i32, coverage));
        }
        pen += scaled.h_advance(id);
    }
}

impl DrawingBackend for Bitmap<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Failure> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Failure> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Failure> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Failure> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Failure> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Failure> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Failure> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Failure> {
        self.inner.estimate_text_size(text, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Failure> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        // The box and anchor exactly as plotters' own draw_text computes them.
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        let mut result = Ok(());
        let font = self.font.clone();
        draw_glyphs(&font, style.size() as f32, text, |x, y, coverage| {
            let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if result.is_ok() && x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                result = self.inner.draw_pixel((x, y), color.mix(coverage as f64));
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ink of `text` drawn in one go, as runs of columns holding ink.
    fn ink_runs(text: &str) -> Vec<(i32, i32)> {
        let font = FontRef::try_from_slice(super::super::FONT).unwrap();
        let mut inked = std::collections::BTreeSet::new();
        draw_glyphs(&font, 20.0, text, |x, _, a| {
            if a > 0.3 {
                inked.insert(x);
            }
        });
        let mut runs: Vec<(i32, i32)> = Vec::new();
        for x in inked {
            match runs.last_mut() {
                Some(r) if r.1 + 1 == x => r.1 = x,
                _ => runs.push((x, x)),
            }
        }
        runs
    }

    #[test]
    fn digits_are_evenly_spaced_the_one_included() {
        // DejaVu Sans's digits share one advance (tabular figures), so the centres
        // of their inks are one advance apart, the "1" (wide left bearing) included.
        let runs = ink_runs("61311");
        assert_eq!(runs.len(), 5, "{runs:?}");
        let centres: Vec<i32> = runs.iter().map(|(a, b)| (a + b) / 2).collect();
        let steps: Vec<i32> = centres.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            steps.iter().all(|s| (s - steps[0]).abs() <= 2),
            "ink centres {centres:?}"
        );
    }
}
