//! Training curves: loss and accuracy per epoch, training solid and validation dashed,
//! one colour per run (so several runs compare on one chart, as the tutorials compare
//! SGD with Adam).

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{Drawn, Figure, PALETTE};
use crate::history::History;

/// Loss (left) and accuracy (right) of one or more runs.
#[derive(Debug, Clone)]
pub struct TrainingCurves {
    /// The chart's title.
    pub title: String,
    /// `(legend name, history)` per run.
    pub runs: Vec<(String, History)>,
    /// An epoch to mark on both panels with a dotted vertical line and its reason
    /// (a run's best epoch by its monitored metric, `"best val_loss"`).
    pub mark: Option<(usize, String)>,
}

type Getter = fn(&crate::history::EpochLog) -> Option<f64>;

impl TrainingCurves {
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        what: &str,
        train: Getter,
        val: Getter,
    ) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let last = self
            .runs
            .iter()
            .filter_map(|(_, h)| h.epochs.last().map(|e| e.epoch))
            .max()
            .unwrap_or(1)
            .max(1);
        // A few epochs get half an epoch of margin on each side, so a one-epoch run's
        // points sit mid-chart instead of on the axis; ticks only at whole epochs.
        let (x0, x1) = if last < 4 {
            (0.5, last as f64 + 0.5)
        } else {
            (1.0, last as f64)
        };
        let values: Vec<f64> = self
            .runs
            .iter()
            .flat_map(|(_, h)| h.epochs.iter().flat_map(|e| [train(e), val(e)]))
            .flatten()
            .filter(|v| v.is_finite())
            .collect();
        let (mut lo, mut hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.08).max(1e-4);
        let (lo, hi) = (lo - pad, hi + pad);
        let mut chart = ChartBuilder::on(area)
            .caption(what, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, lo..hi)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(220, 220, 220))
            .x_desc("epoch")
            .x_labels(if last < 4 { last + 2 } else { last.min(12) })
            .x_label_formatter(&|x| {
                let whole = (x - x.round()).abs() < 1e-6 && *x >= 1.0;
                if whole {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        let multi = self.runs.len() > 1;
        for (k, (name, h)) in self.runs.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let points = |f: Getter| -> Vec<(f64, f64)> {
                h.epochs
                    .iter()
                    .filter_map(|e| f(e).filter(|v| v.is_finite()).map(|v| (e.epoch as f64, v)))
                    .collect()
            };
            let prefix = if multi {
                format!("{name} ")
            } else {
                String::new()
            };
            let tr = points(train);
            chart
                .draw_series(LineSeries::new(tr.clone(), color.stroke_width(2)))?
                .label(format!("{prefix}train"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            markers(&mut chart, &tr, k, color.filled())?;
            let va = points(val);
            if va.is_empty() {
                continue;
            }
            // One run: validation in the second colour, as Keras tutorials plot it.
            // Several: each run keeps its colour and validation is dashed.
            if multi {
                chart
                    .draw_series(DashedLineSeries::new(
                        va.clone(),
                        7,
                        4,
                        color.stroke_width(2),
                    ))?
                    .label(format!("{prefix}validation"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 8, y)], color.stroke_width(2))
                    });
                markers(&mut chart, &va, k, color.stroke_width(1))?;
            } else {
                let c2 = PALETTE[1];
                chart
                    .draw_series(LineSeries::new(va.clone(), c2.stroke_width(2)))?
                    .label("validation")
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], c2.stroke_width(2))
                    });
                chart.draw_series(va.iter().map(|&p| Circle::new(p, 3, c2.filled())))?;
            }
        }
        if let Some((epoch, why)) = &self.mark {
            let x = *epoch as f64;
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new(
                    [(x, lo), (x, hi)],
                    2,
                    4,
                    grey.stroke_width(2),
                ))?
                .label(format!("{why} (epoch {epoch})"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], grey.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(if what == "loss" {
                SeriesLabelPosition::UpperRight
            } else {
                SeriesLabelPosition::LowerRight
            })
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        Ok(())
    }
}

/// The points of run `k` with its own marker: a filled circle, then a hollow
/// triangle, a hollow square and a cross, each larger than the circle, so runs
/// whose curves coincide still show every run's marker.
fn markers<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: &[(f64, f64)],
    k: usize,
    style: ShapeStyle,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let p = points.iter().copied();
    let hollow = ShapeStyle {
        filled: false,
        stroke_width: 2,
        ..style
    };
    match k % 4 {
        0 => chart.draw_series(p.map(|p| Circle::new(p, 3, style)))?,
        1 => chart.draw_series(p.map(|p| {
            let outline = vec![(0, -8), (7, 5), (-7, 5), (0, -8)];
            EmptyElement::at(p) + PathElement::new(outline, hollow)
        }))?,
        2 => chart.draw_series(
            p.map(|p| EmptyElement::at(p) + Rectangle::new([(-6, -6), (6, 6)], hollow)),
        )?,
        _ => chart.draw_series(p.map(|p| Cross::new(p, 7, hollow)))?,
    };
    Ok(())
}

impl Figure for TrainingCurves {
    fn size(&self) -> (u32, u32) {
        (1200, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let root = root.titled(&self.title, ("sans-serif", 24))?;
        let (left, right) = root.split_horizontally(600);
        self.panel(&left, "loss", |e| Some(e.loss), |e| e.val_loss)?;
        self.panel(&right, "accuracy", |e| Some(e.accuracy), |e| e.val_accuracy)?;
        Ok(())
    }
}
