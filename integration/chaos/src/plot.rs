//! The PNG timeline of a run: per second, success and shed rates (and
//! breaker-open answers when there are any) on top, p50/p99 latency of 2xx
//! answers below, with every fault window shaded in both.
//!
//! Text needs a TrueType font; rather than commit one, the first of a few
//! usual system fonts is loaded at run time (plotters' `ab_glyph` backend).
//! Without one the chart is drawn without text; the Markdown next to it
//! carries the same numbers.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::Error;
use crate::record::Run;

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system font once; true if text can be drawn.
fn fonts() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        FONTS.iter().any(|path| {
            std::fs::read(path).is_ok_and(|bytes| {
                // Leaked once per process: plotters keeps fonts for 'static.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

/// Draws `run` to `path` (PNG, 1000×640) titled `title`.
pub fn timeline(run: &Run, title: &str, path: &Path) -> Result<(), Error> {
    let text = fonts();
    let secs = run.per_second();
    let x_max = secs.len().max(1) as f64;
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = if text {
        root.titled(title, ("sans-serif", 20))?
    } else {
        root
    };
    let (top, bottom) = root.split_vertically(300);
    let rates: Vec<Series<'_>> = vec![
        (
            "2xx %",
            RGBColor(0, 150, 0),
            points(&secs, |s| s.success() * 100.0),
        ),
        (
            "shed %",
            RGBColor(230, 140, 0),
            points(&secs, |s| s.shed_rate() * 100.0),
        ),
        (
            "breaker-open %",
            RGBColor(150, 0, 150),
            points(&secs, |s| s.breaker as f64 * 100.0 / s.sent.max(1) as f64),
        ),
        (
            "lost %",
            RED,
            points(&secs, |s| s.lost as f64 * 100.0 / s.sent.max(1) as f64),
        ),
    ];
    let rates: Vec<_> = rates
        .into_iter()
        .filter(|(name, _, pts)| *name == "2xx %" || pts.iter().any(|p| p.1 > 0.0))
        .collect();
    panel(&top, run, text, "% of requests", x_max, 105.0, rates)?;
    let lat_max = secs.iter().map(|s| s.p99_ms).fold(1.0, f64::max) * 1.1;
    let latency = vec![
        ("p50 ms", BLUE, points(&secs, |s| s.p50_ms)),
        ("p99 ms", BLACK, points(&secs, |s| s.p99_ms)),
    ];
    panel(
        &bottom,
        run,
        text,
        "latency of 2xx (ms)",
        x_max,
        lat_max,
        latency,
    )?;
    root.present()?;
    Ok(())
}

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn points(
    secs: &[crate::record::Summary],
    f: impl Fn(&crate::record::Summary) -> f64,
) -> Vec<(f64, f64)> {
    secs.iter()
        .enumerate()
        .map(|(i, s)| (i as f64 + 0.5, f(s)))
        .collect()
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    run: &Run,
    text: bool,
    y_desc: &str,
    x_max: f64,
    y_max: f64,
    series: Vec<Series<'_>>,
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder.x_label_area_size(30).y_label_area_size(50);
    }
    let mut chart = builder.build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    if text {
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(y_desc)
            .draw()?;
    } else {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()?;
    }
    for w in &run.windows {
        let (from, to) = (w.from.as_secs_f64(), w.to.as_secs_f64().min(x_max));
        chart.draw_series(std::iter::once(Rectangle::new(
            [(from, 0.0), (to, y_max)],
            RGBColor(255, 200, 200).mix(0.5).filled(),
        )))?;
    }
    for (name, color, pts) in series {
        let drawn = chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
        if text {
            drawn.label(name).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}
