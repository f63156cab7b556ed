//! The confusion matrix as a heatmap: rows are the true classes, columns the
//! predicted ones; each cell shows its count, shaded by its share of the row (so the
//! diagonal reads as per-class recall and every mistake stands out, whatever the
//! class sizes).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Drawn, Figure};
use crate::metrics::ConfusionMatrix;

/// A confusion-matrix heatmap.
#[derive(Debug, Clone)]
pub struct ConfusionHeatmap {
    /// The chart's title.
    pub title: String,
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// The counts.
    pub matrix: ConfusionMatrix,
}

const CELL: i32 = 56;
const TOP: i32 = 90;

impl ConfusionHeatmap {
    fn left(&self) -> i32 {
        let longest = self
            .class_names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(1) as i32;
        60 + longest * 9
    }
}

/// White to matplotlib's dark blue, by `t` in [0, 1].
fn blues(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0))
}

impl Figure for ConfusionHeatmap {
    fn size(&self) -> (u32, u32) {
        let n = self.matrix.classes as i32;
        (
            (self.left() + n * CELL + 30) as u32,
            (TOP + n * CELL + 60) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let n = self.matrix.classes;
        let left = self.left();
        let (w, _) = self.size();
        let center = |size: f64, color: &RGBColor| {
            ("sans-serif", size)
                .into_font()
                .color(color)
                .pos(Pos::new(HPos::Center, VPos::Center))
        };
        root.draw(&Text::new(
            self.title.as_str(),
            (w as i32 / 2, 22),
            center(22.0, &BLACK),
        ))?;
        root.draw(&Text::new(
            "predicted",
            (left + n as i32 * CELL / 2, 52),
            center(16.0, &BLACK),
        ))?;
        let true_label = ("sans-serif", 16)
            .into_font()
            .color(&BLACK)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(
            "true",
            (16, TOP + n as i32 * CELL / 2),
            true_label,
        ))?;
        for c in 0..n {
            let name = self.class_names.get(c).cloned().unwrap_or(c.to_string());
            root.draw(&Text::new(
                name.clone(),
                (left + c as i32 * CELL + CELL / 2, TOP - 14),
                center(13.0, &BLACK),
            ))?;
            root.draw(&Text::new(
                name,
                (left - 8, TOP + c as i32 * CELL + CELL / 2),
                ("sans-serif", 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
        for t in 0..n {
            let support = self.matrix.support(t).max(1) as f64;
            for p in 0..n {
                let count = self.matrix.get(t, p);
                let share = count as f64 / support;
                // A square root lifts small mistakes off the white without hiding the
                // diagonal.
                let fill = blues(share.sqrt());
                let (x, y) = (left + p as i32 * CELL, TOP + t as i32 * CELL);
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    RGBColor(255, 255, 255).stroke_width(1),
                ))?;
                if count > 0 {
                    let ink = if share.sqrt() > 0.55 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + CELL / 2, y + CELL / 2),
                        center(if count >= 1000 { 13.0 } else { 15.0 }, &ink),
                    ))?;
                }
            }
        }
        let note = format!(
            "accuracy {:.4} on {} images; shade = share of the true class (row)",
            self.matrix.accuracy(),
            self.matrix.total()
        );
        root.draw(&Text::new(
            note,
            (w as i32 / 2, TOP + n as i32 * CELL + 30),
            center(13.0, &RGBColor(80, 80, 80)),
        ))?;
        Ok(())
    }
}
