//! PNG line charts for trial folders and reports.
//!
//! A [`Chart`] is a title, two axis titles and a list of [`Series`]; each
//! series is a line (with a marker at each point when there are few) and an
//! optional shaded band, such as a confidence interval over seeds.
//! [`write_png`] renders it with `plotters`.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (see
//! `assets/LICENSE-DejaVu.txt`), so charts render the same on a bare machine
//! without fontconfig or any system fonts.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, RGBColor, register_font};

/// One line of a [`Chart`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Name shown in the legend.
    pub label: String,
    /// `(x, y)` points, joined in the order given. Points with a non-finite
    /// coordinate are skipped and break the line there.
    pub points: Vec<(f64, f64)>,
    /// Optional `(x, lo, hi)` band, drawn as a translucent area in the
    /// series colour beneath all lines. Non-finite entries break the band.
    pub band: Option<Vec<(f64, f64, f64)>>,
}

/// What to draw: a title, axis titles and the series.
#[derive(Debug, Clone, Copy)]
pub struct Chart<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Title of the horizontal axis.
    pub x_label: &'a str,
    /// Title of the vertical axis.
    pub y_label: &'a str,
    /// The lines to draw; may be empty (the chart then says "no data").
    pub series: &'a [Series],
}

/// Why a chart could not be written. Every variant names the target path.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Width or height was zero.
    #[error("cannot write chart {}: invalid size {width}x{height}", path.display())]
    InvalidSize {
        /// The PNG that was to be written.
        path: PathBuf,
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
    },
    /// Creating, syncing or renaming the file failed.
    #[error("cannot write chart {}: {source}", path.display())]
    Io {
        /// The PNG that was to be written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `plotters` failed to draw or encode the image.
    #[error("cannot draw chart {}: {message}", path.display())]
    Render {
        /// The PNG that was to be written.
        path: PathBuf,
        /// The error `plotters` reported.
        message: String,
    },
}

/// The font family every text in a chart uses.
const FONT: &str = "sans-serif";

/// DejaVu Sans, registered with `plotters` on first use.
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Okabe & Ito's colour-blind-safe palette, most distinct first (its yellow
/// last: it is faint on white).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// Most tick labels on an axis.
const MAX_TICKS: usize = 10;

/// Series with at most this many points get a marker at each point.
const MAX_POINTS_WITH_MARKERS: usize = 60;

/// Writes a PNG of `width` x `height` pixels to `path`.
///
/// The chart has axes with tick labels, axis titles, a legend (when there is
/// more than one series, or the only series has a label) and one colour per
/// series from a colour-blind-safe palette (cycling after eight). The x axis
/// spans the data, the y axis the data padded by 5 %; non-finite values are
/// ignored, and a single point still plots. With no finite data at all, the
/// image holds the title and "no data".
///
/// The write is atomic: the image is rendered into a temporary file next to
/// `path`, synced, then renamed over `path`, so readers never see a partial
/// PNG. (The temporary name ends in `.tmp.png` rather than `.tmp` because the
/// encoder picks the format from the extension.) A missing parent folder is
/// created, as for the report's markdown beside it.
pub fn write_png(path: &Path, chart: &Chart, width: u32, height: u32) -> Result<(), PlotError> {
    if width == 0 || height == 0 {
        return Err(PlotError::InvalidSize {
            path: path.to_owned(),
            width,
            height,
        });
    }
    let io_err = |source| PlotError::Io {
        path: path.to_owned(),
        source,
    };
    let render_err = |message: String| PlotError::Render {
        path: path.to_owned(),
        message,
    };
    if !font_registered() {
        return Err(render_err("the embedded font could not be loaded".into()));
    }
    let tmp = temp_path(path);
    // Create the file first: a bad directory then surfaces as an I/O error
    // here rather than as an encoder error after drawing.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err)?;
    }
    File::create(&tmp).map_err(io_err)?;
    let result = (|| {
        {
            let root = BitMapBackend::new(&tmp, (width, height)).into_drawing_area();
            draw(&root, chart).map_err(render_err)?;
            root.present().map_err(|e| render_err(e.to_string()))?;
        }
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err)?;
        fs::rename(&tmp, path).map_err(io_err)
    })();
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Registers the embedded font once; false if it could not be parsed.
fn font_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok())
}

/// A temporary file in the same directory as `path`, unique within this
/// machine's processes and threads: `.<name>.<pid>-<n>.tmp.png`.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chart".to_owned());
    path.with_file_name(format!(".{name}.{}-{n}.tmp.png", std::process::id()))
}

/// Draws `chart` on `root`; errors are returned as text.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;

    let (w, h) = root.dim_in_pixel();
    // Font sizes and margins follow the image size, 1.0 at 800 x 600.
    let scale = (f64::from(w) / 800.0)
        .min(f64::from(h) / 600.0)
        .clamp(0.5, 3.0);
    let px = |base: f64| (base * scale).round().max(1.0);
    // Text has a floor: below about 11 px the glyphs blur into each other.
    let text = |base: f64, min: f64| (FONT, (base * scale).round().max(min)).into_font();
    let title_font = text(24.0, 14.0);
    let label_font = text(18.0, 12.0);
    let tick_font = text(14.0, 11.0);

    let Some(((x0, x1), (y0, y1))) = data_ranges(chart.series) else {
        let area = root.titled(chart.title, title_font).map_err(err)?;
        let (aw, ah) = area.dim_in_pixel();
        let style = label_font
            .color(&BLACK.mix(0.6))
            .pos(Pos::new(HPos::Center, VPos::Center));
        area.draw_text("no data", &style, (aw as i32 / 2, ah as i32 / 2))
            .map_err(err)?;
        return Ok(());
    };

    let (x_ticks, integer_x) = x_ticks(chart.series, x0, x1);
    let x_fmt: Box<dyn Fn(&f64) -> String> = if integer_x {
        Box::new(|v: &f64| format!("{v:.0}"))
    } else {
        Box::new(tick_formatter(x1 - x0))
    };
    let y_fmt = tick_formatter(y1 - y0);
    // Room for the tick labels and the axis title beside them. The widest
    // y tick label is at one end of the range (the most digits or a sign).
    let tick_size = tick_font.get_size();
    let label_size = label_font.get_size();
    let widest_y_tick = [y0, y1]
        .iter()
        .map(|y| tick_font.box_size(&y_fmt(y)).map_or(0, |(w, _)| w))
        .max()
        .unwrap_or(0);
    let x_area = 1.3 * (tick_size + label_size) + px(10.0);
    let y_area = f64::from(widest_y_tick) + 1.3 * label_size + px(16.0);

    let mut ctx = ChartBuilder::on(root)
        .caption(chart.title, title_font)
        .margin(px(16.0) as i32)
        .x_label_area_size(x_area.round() as i32)
        .y_label_area_size(y_area.round() as i32)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;

    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .axis_desc_style(label_font.clone())
        .label_style(tick_font.clone())
        .x_labels(x_ticks)
        .y_labels(MAX_TICKS)
        .max_light_lines(4)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(BLACK.mix(0.05))
        .bold_line_style(BLACK.mix(0.15))
        .axis_style(BLACK.mix(0.8))
        .draw()
        .map_err(err)?;

    // Bands first, so that every line is drawn on top of every band.
    for (i, series) in chart.series.iter().enumerate() {
        let colour = colour(i);
        for run in finite_runs(series.band.as_deref().unwrap_or(&[]), |&(x, lo, hi)| {
            x.is_finite() && lo.is_finite() && hi.is_finite()
        }) {
            let outline: Vec<(f64, f64)> = run
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(run.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            ctx.draw_series(std::iter::once(Polygon::new(
                outline,
                colour.mix(0.2).filled(),
            )))
            .map_err(err)?;
        }
    }

    let line_width = px(2.0) as u32;
    let marker_size = px(3.0) as i32;
    for (i, series) in chart.series.iter().enumerate() {
        let colour = colour(i);
        let style = colour.stroke_width(line_width);
        let runs = finite_runs(&series.points, |&(x, y)| x.is_finite() && y.is_finite());
        let markers = series.points.len() <= MAX_POINTS_WITH_MARKERS;
        for run in &runs {
            ctx.draw_series(LineSeries::new(run.iter().copied(), style))
                .map_err(err)?;
            if markers || run.len() == 1 {
                ctx.draw_series(
                    run.iter()
                        .map(|&p| Circle::new(p, marker_size, colour.filled())),
                )
                .map_err(err)?;
            }
        }
        // One legend entry per series, even if its points are all
        // non-finite (an empty series still names itself).
        ctx.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label(series.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(line_width))
            });
    }

    let show_legend =
        chart.series.len() > 1 || chart.series.first().is_some_and(|s| !s.label.is_empty());
    if show_legend {
        ctx.configure_series_labels()
            .position(legend_position(chart.series, (x0, x1), (y0, y1)))
            .label_font(tick_font)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .margin(px(12.0) as i32)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// The colour of the `i`th series.
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Maximal runs of consecutive items that satisfy `ok`.
fn finite_runs<T: Copy>(items: &[T], ok: impl Fn(&T) -> bool) -> Vec<Vec<T>> {
    items
        .split(|item| !ok(item))
        .filter(|run| !run.is_empty())
        .map(<[T]>::to_vec)
        .collect()
}

/// `((x_min, x_max), (y_min, y_max))` of a chart's axes.
type Ranges = ((f64, f64), (f64, f64));

/// The x range (data min to max) and y range (padded by 5 %) of every finite
/// point and band value; `None` when there is none.
fn data_ranges(series: &[Series]) -> Option<Ranges> {
    let mut xs = Extent::default();
    let mut ys = Extent::default();
    for s in series {
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                xs.add(x);
                ys.add(y);
            }
        }
        for &(x, lo, hi) in s.band.as_deref().unwrap_or(&[]) {
            if x.is_finite() && lo.is_finite() && hi.is_finite() {
                xs.add(x);
                ys.add(lo);
                ys.add(hi);
            }
        }
    }
    let (x0, x1) = xs.get()?;
    let (y0, y1) = ys.get()?;
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { widen(x0) };
    let (y0, y1) = if y1 > y0 {
        let pad = 0.05 * (y1 - y0);
        (y0 - pad, y1 + pad)
    } else {
        widen(y0)
    };
    Some(((x0, x1), (y0, y1)))
}

/// A range around a single value `v`: `v ± 5 %`, or `v ± 1` near zero.
fn widen(v: f64) -> (f64, f64) {
    let half = if v.abs() > 20.0 { 0.05 * v.abs() } else { 1.0 };
    (v - half, v + half)
}

/// Running min and max.
#[derive(Default)]
struct Extent(Option<(f64, f64)>);

impl Extent {
    fn add(&mut self, v: f64) {
        self.0 = Some(match self.0 {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }

    fn get(&self) -> Option<(f64, f64)> {
        self.0
    }
}

/// How many x ticks to ask `plotters` for, and whether they must be whole numbers: when
/// every x of the chart is a whole number (epochs), at most one tick per unit of the span,
/// so that the `{1, 2, 5} x 10^k` step `plotters` picks is never below 1 and no tick reads
/// "epoch 1.5"; otherwise [`MAX_TICKS`].
fn x_ticks(series: &[Series], x0: f64, x1: f64) -> (usize, bool) {
    let whole = |x: f64| !x.is_finite() || x.fract() == 0.0;
    let integer = series.iter().all(|s| {
        s.points.iter().all(|&(x, _)| whole(x))
            && s.band
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .all(|&(x, _, _)| whole(x))
    });
    if !integer {
        return (MAX_TICKS, false);
    }
    let units = (x1 - x0).floor().max(0.0) as usize + 1;
    (units.clamp(2, MAX_TICKS), true)
}

/// Formats the ticks of an axis spanning `span` with the same number of
/// decimals each, just enough for the tick step (`90`, `92`, `94`, or `0.0`,
/// `0.5`, `1.0`; never `93.25000000000001`).
///
/// `plotters` places at most [`MAX_TICKS`] ticks, `{1, 2, 5} x 10^k` apart, so
/// its step is at least `span / (MAX_TICKS + 1)` rounded up to such a number;
/// that lower bound's power of ten gives enough decimals for the actual step.
fn tick_formatter(span: f64) -> impl Fn(&f64) -> String {
    let min_step = span / (MAX_TICKS + 1) as f64;
    let decimals = if min_step > 0.0 && min_step.is_finite() {
        let power = min_step.log10().floor();
        let mantissa = min_step / 10f64.powf(power);
        let power = if mantissa > 5.0 { power + 1.0 } else { power };
        (-power).clamp(0.0, 12.0) as usize
    } else {
        0
    };
    move |v: &f64| {
        let s = format!("{v:.decimals$}");
        // No "-0" for a value that rounds to zero.
        if s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            s.trim_start_matches('-').to_owned()
        } else {
            s
        }
    }
}

/// The right-hand corner (upper or lower) that fewer points fall in, so that
/// the legend hides as little as possible: accuracy curves rise and leave the
/// lower right free, loss curves fall and leave the upper right free.
fn legend_position(series: &[Series], x: (f64, f64), y: (f64, f64)) -> SeriesLabelPosition {
    let x_mid = x.0 + 0.6 * (x.1 - x.0);
    let y_mid = 0.5 * (y.0 + y.1);
    let (mut upper, mut lower) = (0usize, 0usize);
    for s in series {
        for &(px, py) in &s.points {
            if px.is_finite() && py.is_finite() && px >= x_mid {
                if py >= y_mid {
                    upper += 1;
                } else {
                    lower += 1;
                }
            }
        }
    }
    if lower <= upper {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(xs: &[f64]) -> Series {
        Series {
            label: "s".into(),
            points: xs.iter().map(|&x| (x, 1.0)).collect(),
            band: Some(xs.iter().map(|&x| (x, 0.5, 1.5)).collect()),
        }
    }

    #[test]
    fn epoch_axes_get_whole_number_ticks_only() {
        // 4 epochs: at most 4 ticks, so the step is 1, never 0.5.
        assert_eq!(
            x_ticks(&[series(&[1.0, 2.0, 3.0, 4.0])], 1.0, 4.0),
            (4, true)
        );
        // 2 epochs: 2 ticks.
        assert_eq!(x_ticks(&[series(&[1.0, 2.0])], 1.0, 2.0), (2, true));
        // 30 epochs: the usual cap (plotters then steps by 5).
        let thirty: Vec<f64> = (1..=30).map(f64::from).collect();
        assert_eq!(x_ticks(&[series(&thirty)], 1.0, 30.0), (MAX_TICKS, true));
        // One epoch (the range is widened around it): still whole numbers.
        assert_eq!(x_ticks(&[series(&[1.0])], 0.5, 1.5), (2, true));
        // Any fractional x: the general rule.
        assert_eq!(
            x_ticks(&[series(&[1.0]), series(&[0.5, 1.0])], 0.5, 1.0),
            (MAX_TICKS, false)
        );
    }
}
