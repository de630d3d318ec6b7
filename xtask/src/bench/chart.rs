//! The SVG chart: per workload, one bar per configuration for the slowdown
//! against `none` (top) and the agent's CPU use (bottom); whiskers span
//! the rounds' interquartile range.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use super::summary::{Spread, Summary};

const COLORS: [RGBColor; 6] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x76, 0xb7, 0xb2),
];

struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    /// (workload index, config index, value spread)
    bars: Vec<(usize, usize, Spread)>,
    legend: bool,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel<'_>,
    workloads: &[&str],
    configs: &[&str],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the chart: {e:?}");
    let lo = panel.bars.iter().map(|b| b.2.p25).fold(0.0f64, f64::min);
    let hi = panel.bars.iter().map(|b| b.2.p75).fold(1.0f64, f64::max);
    // Headroom above the bars for the workload names.
    let (lo, hi) = (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.15);
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(8)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..workloads.len() as f64, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(panel.y_desc)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (workloads.len() as f64, 0.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(err)?;
    let width = 0.8 / configs.len().max(1) as f64;
    for (ci, name) in configs.iter().enumerate() {
        let color = COLORS[ci % COLORS.len()];
        let mine: Vec<&(usize, usize, Spread)> = panel.bars.iter().filter(|b| b.1 == ci).collect();
        let series = chart
            .draw_series(mine.iter().map(|(wi, _, s)| {
                let x0 = *wi as f64 + 0.1 + ci as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.9, s.median)], color.filled())
            }))
            .map_err(err)?;
        if panel.legend {
            series.label(*name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
            });
        }
        chart
            .draw_series(mine.iter().map(|(wi, _, s)| {
                let x = *wi as f64 + 0.1 + ci as f64 * width + width * 0.45;
                PathElement::new(vec![(x, s.p25), (x, s.p75)], BLACK.stroke_width(1))
            }))
            .map_err(err)?;
    }
    chart
        .draw_series(workloads.iter().enumerate().map(|(i, w)| {
            Text::new(
                w.to_string(),
                (i as f64 + 0.1, hi - (hi - lo) * 0.03),
                ("sans-serif", 15),
            )
        }))
        .map_err(err)?;
    if panel.legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

pub fn write_svg(
    path: &Path,
    summary: &[Summary],
    workloads: &[&str],
    configs: &[&str],
) -> Result<()> {
    // `none` is the baseline of the slowdown and runs no agent: not a bar.
    let shown: Vec<&str> = configs.iter().copied().filter(|c| *c != "none").collect();
    let index = |r: &Summary| {
        Some((
            workloads.iter().position(|w| *w == r.workload)?,
            shown.iter().position(|c| *c == r.config)?,
        ))
    };
    let pct = |s: Spread| s.map(|v| (v - 1.0) * 100.0);
    let slowdown = Panel {
        title: "Workload slowdown vs. nothing attached (median; whiskers: interquartile range of rounds)",
        y_desc: "slowdown %",
        bars: summary
            .iter()
            .filter_map(|r| {
                let (w, c) = index(r)?;
                Some((w, c, pct(r.slowdown?)))
            })
            .collect(),
        legend: true,
    };
    let cpu = Panel {
        title: "Agent CPU while the workload runs (% of one core)",
        y_desc: "CPU %",
        bars: summary
            .iter()
            .filter_map(|r| {
                let (w, c) = index(r)?;
                Some((w, c, r.agent_cpu_percent?))
            })
            .collect(),
        legend: false,
    };
    let root = SVGBackend::new(path, (1000, 760)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| anyhow!("drawing the chart: {e:?}"))?;
    let (top, bottom) = root.split_vertically(400);
    draw_panel(&top, &slowdown, workloads, &shown)?;
    draw_panel(&bottom, &cpu, workloads, &shown)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e:?}", path.display()))?;
    Ok(())
}
