//! The tutorials' `countplot`: how many images carry each label, one bar per set.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Drawn, Figure, PALETTE};

/// A grouped bar chart of label counts: one group per class, one bar per set.
#[derive(Debug, Clone)]
pub struct LabelCountsChart {
    /// The chart's title.
    pub title: String,
    /// Class names, in label order (the x axis).
    pub class_names: Vec<String>,
    /// `(set name, count per class)`, e.g. `("train", [5923, 6742, ...])`.
    pub series: Vec<(String, Vec<usize>)>,
}

impl Figure for LabelCountsChart {
    fn size(&self) -> (u32, u32) {
        let long = self.class_names.iter().any(|n| n.chars().count() > 3);
        (if long { 1100 } else { 900 }, 520)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let classes = self.class_names.len();
        let max = self
            .series
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        // Head room for the count printed above each bar and for the legend, which
        // must not cover the tallest bar when every class has the same count.
        let top = max as f64 * 1.3;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 26))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5f64..classes as f64 - 0.5, 0f64..top)?;
        let names = self.class_names.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(200, 200, 200))
            .x_labels(classes)
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("label")
            .y_desc("count")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()?;

        let groups = self.series.len().max(1) as f64;
        let width = 0.8 / groups;
        for (k, (name, counts)) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let left = |c: usize| c as f64 - 0.4 + k as f64 * width;
            chart
                .draw_series(counts.iter().enumerate().map(|(c, &n)| {
                    Rectangle::new(
                        [(left(c), 0.0), (left(c) + width * 0.92, n as f64)],
                        color.filled(),
                    )
                }))?
                .label(format!("{name} ({})", counts.iter().sum::<usize>()))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
            let small = ("sans-serif", if groups > 1.0 { 11 } else { 13 })
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series(counts.iter().enumerate().map(|(c, &n)| {
                Text::new(
                    n.to_string(),
                    (left(c) + width * 0.46, n as f64 + top * 0.01),
                    small.clone(),
                )
            }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        Ok(())
    }
}
