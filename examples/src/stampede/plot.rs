//! The plot: recomputes per expiry against the request rate, one line per protection, for the
//! 100 ms body, memory and Redis side by side.

use plotters::prelude::*;

use crate::variants::ALL;
use crate::Measured;

pub fn write(path: &str, measured: &[Measured]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    let delta_ms = measured.iter().map(|m| m.delta_ms).max().unwrap_or(100);
    for (panel, topology) in panels.iter().zip(["memory", "redis"]) {
        let rows: Vec<&Measured> = measured
            .iter()
            .filter(|m| m.topology == topology && m.delta_ms == delta_ms)
            .collect();
        let top = rows
            .iter()
            .map(|m| m.row.recomputes_per_expiry)
            .fold(1.0, f64::max)
            * 1.1;
        let caption = match topology {
            "memory" => format!("memory, 1 process, {delta_ms} ms body"),
            _ => format!("Redis, 4 processes, {delta_ms} ms body"),
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d((50f64..8_000f64).log_scale(), (0.5f64..top).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("requests per second")
            .y_desc("recomputes per expiry")
            .draw()?;
        for (index, variant) in ALL.into_iter().enumerate() {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|m| m.variant == variant)
                .map(|m| (f64::from(m.rate), m.row.recomputes_per_expiry.max(0.5)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(index).to_rgba();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(variant.name())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
