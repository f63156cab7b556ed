//! The learning-rate range test's chart: each step's loss (light points) and the
//! smoothed loss (a line) against the learning rate on a log axis, the suggested rate
//! marked by a dashed vertical line.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Drawn, Figure, PALETTE};

/// Loss against learning rate, from `scrawl::train::lr_find`.
#[derive(Debug, Clone)]
pub struct LrFinderChart {
    /// The chart's title.
    pub title: String,
    /// The learning rate of each step.
    pub learning_rates: Vec<f32>,
    /// Each step's loss.
    pub losses: Vec<f64>,
    /// The smoothed losses.
    pub smoothed: Vec<f64>,
    /// The suggested rate, marked on the chart.
    pub suggestion: Option<f32>,
}

impl Figure for LrFinderChart {
    fn size(&self) -> (u32, u32) {
        (900, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let lrs: Vec<f64> = self.learning_rates.iter().map(|&l| l as f64).collect();
        let (x0, x1) = match (lrs.first(), lrs.last()) {
            (Some(&a), Some(&b)) if b > a => (a, b),
            (Some(&a), _) => (a, a * 10.0),
            _ => (1e-7, 10.0),
        };
        // The y range: from the lowest loss to the highest smoothed one, so a few wild
        // steps at the end do not flatten the rest (points beyond it are clipped).
        let finite = |v: &&f64| v.is_finite();
        let lo = self
            .losses
            .iter()
            .chain(&self.smoothed)
            .filter(finite)
            .fold(f64::INFINITY, |a, &v| a.min(v));
        let hi = self
            .smoothed
            .iter()
            .filter(finite)
            .fold(f64::NEG_INFINITY, |a, &v| a.max(v));
        let (lo, hi) = if lo.is_finite() && hi.is_finite() {
            (lo, hi)
        } else {
            (0.0, 1.0)
        };
        let pad = ((hi - lo) * 0.1).max(1e-3);
        let (lo, hi) = (lo - pad, hi + pad);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((x0..x1).log_scale(), lo..hi)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(220, 220, 220))
            .x_desc("learning rate (log scale)")
            .y_desc("loss")
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        let raw = PALETTE[0].mix(0.35);
        chart
            .draw_series(
                lrs.iter()
                    .zip(&self.losses)
                    .filter(|(_, l)| (lo..=hi).contains(*l))
                    .map(|(&x, &y)| Circle::new((x, y), 2, raw.filled())),
            )?
            .label("loss of each step")
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, raw.filled()));
        let line = PALETTE[0];
        let smooth: Vec<(f64, f64)> = lrs
            .iter()
            .zip(&self.smoothed)
            .filter(|(_, l)| (lo..=hi).contains(*l))
            .map(|(&x, &y)| (x, y))
            .collect();
        chart
            .draw_series(LineSeries::new(smooth, line.stroke_width(2)))?
            .label("smoothed")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], line.stroke_width(2)));
        if let Some(s) = self.suggestion {
            let mark = PALETTE[1];
            let s = s as f64;
            chart
                .draw_series(DashedLineSeries::new(
                    [(s, lo), (s, hi)],
                    7,
                    4,
                    mark.stroke_width(2),
                ))?
                .label(format!("suggested {s:.1e}"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], mark.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        Ok(())
    }
}
