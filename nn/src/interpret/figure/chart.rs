//! [`LineChart`]: several series of `(x, y)` points drawn as coloured lines on axes with
//! ticks, tick labels, axis labels and a legend in the built-in [font](super::font).

use super::error::{FigureError, Result};
use super::font::{draw_text, text_size};
use super::image::Image;
use std::path::Path;

/// The series colours, in order (matplotlib's `tab10`); the eleventh series reuses the first.
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

const INK: [u8; 3] = [0, 0, 0];
const GRID: [u8; 3] = [225, 225, 225];
const WHITE: [u8; 3] = [255, 255, 255];

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Its legend entry.
    pub name: String,
    /// Its points, joined in order; a non-finite coordinate breaks the line.
    pub points: Vec<(f64, f64)>,
}

/// A line chart, rendered to an RGB [`Image`].
///
/// ```
/// use nn::interpret::figure::LineChart;
/// let chart = LineChart::new(320, 200)
///     .title("loss")
///     .x_label("epoch")
///     .series("train", vec![(1.0, 0.9), (2.0, 0.4), (3.0, 0.3)]);
/// let img = chart.render().unwrap();
/// assert_eq!((img.width(), img.height()), (320, 200));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    width: usize,
    height: usize,
    title: String,
    x_label: String,
    y_label: String,
    x_range: Option<(f64, f64)>,
    y_range: Option<(f64, f64)>,
    text_scale: usize,
    series: Vec<Series>,
}

/// Tick positions for `[lo, hi]`: multiples of a step of 1, 2 or 5 times a power of ten,
/// about `target` of them, and the number of decimals their labels need.
pub fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return (vec![lo], 0);
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), decimals.min(9))
}

/// `[lo, hi]` widened to whole steps of its ticks (a degenerate range becomes `v ± 1`).
fn nice_range(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 1.0, hi + 1.0) };
    let (t, _) = ticks(lo, hi, 5);
    let step = if t.len() > 1 { t[1] - t[0] } else { hi - lo };
    ((lo / step).floor() * step, (hi / step).ceil() * step)
}

fn line(img: &mut Image, (x0, y0): (f64, f64), (x1, y1): (f64, f64), rgb: [u8; 3], thick: i64) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for k in 0..=n {
        let t = k as f64 / n as f64;
        let (x, y) = (
            (x0 + (x1 - x0) * t).round() as i64,
            (y0 + (y1 - y0) * t).round() as i64,
        );
        for dy in 0..thick {
            for dx in 0..thick {
                img.put(x + dx - thick / 2, y + dy - thick / 2, rgb);
            }
        }
    }
}

impl LineChart {
    /// An empty `width × height` chart; text at twice the font's size.
    pub fn new(width: usize, height: usize) -> Self {
        LineChart {
            width,
            height,
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            x_range: None,
            y_range: None,
            text_scale: 2,
            series: Vec::new(),
        }
    }

    /// The title, above the plot.
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.into();
        self
    }

    /// The x axis's label, under the tick labels.
    pub fn x_label(mut self, label: &str) -> Self {
        self.x_label = label.into();
        self
    }

    /// The y axis's label, above the axis.
    pub fn y_label(mut self, label: &str) -> Self {
        self.y_label = label.into();
        self
    }

    /// A fixed x range (otherwise the data's, widened to whole ticks).
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }

    /// A fixed y range (otherwise the data's, widened to whole ticks).
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Font pixels per image pixel (1: 5×7 glyphs).
    pub fn text_scale(mut self, scale: usize) -> Self {
        self.text_scale = scale.max(1);
        self
    }

    /// Adds a series, drawn in the next [`PALETTE`] colour.
    pub fn series(mut self, name: &str, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
        });
        self
    }

    fn data_range(&self, pick: fn(&(f64, f64)) -> f64) -> Option<(f64, f64)> {
        let vals = self.series.iter().flat_map(|s| s.points.iter().map(pick));
        super::colormap::value_range(vals, false)
    }

    /// Draws the chart. Fails if there is no series, no finite point, a fixed range that is
    /// empty, or too little room for the plot at this size.
    pub fn render(&self) -> Result<Image> {
        const F: &str = "LineChart::render";
        if self.series.is_empty() {
            return Err(FigureError::invalid(F, "the chart has no series"));
        }
        let data_x = self.data_range(|p| p.0);
        let data_y = self.data_range(|p| p.1);
        let (Some(dx), Some(dy)) = (data_x, data_y) else {
            return Err(FigureError::invalid(F, "no series has a finite point"));
        };
        let (x_lo, x_hi) = self.x_range.unwrap_or_else(|| nice_range(dx.0, dx.1));
        let (y_lo, y_hi) = self.y_range.unwrap_or_else(|| nice_range(dy.0, dy.1));
        if !(x_hi > x_lo && y_hi > y_lo) {
            return Err(FigureError::invalid(
                F,
                format!("empty range: x [{x_lo}, {x_hi}], y [{y_lo}, {y_hi}]"),
            ));
        }
        let s = self.text_scale;
        let (_, th) = text_size("0", s);
        let (y_ticks, y_dec) = ticks(y_lo, y_hi, 5);
        let y_labels: Vec<String> = y_ticks.iter().map(|v| format!("{v:.y_dec$}")).collect();
        let label_w = y_labels.iter().map(|l| text_size(l, s).0).max().unwrap_or(0);
        let legend_w = self
            .series
            .iter()
            .map(|x| text_size(&x.name, s).0)
            .max()
            .unwrap_or(0)
            + 4 * th;
        let top = th
            + if self.title.is_empty() { 0 } else { 2 * th }
            + if self.y_label.is_empty() { 0 } else { 2 * th };
        let left = label_w + th;
        let bottom = 2 * th + if self.x_label.is_empty() { 0 } else { 2 * th };
        let right = legend_w + th;
        if self.width < left + right + 20 || self.height < top + bottom + 20 {
            return Err(FigureError::invalid(
                F,
                format!("{}x{} is too small for the plot", self.width, self.height),
            ));
        }
        // As many x ticks as fit (up to 6) without their labels touching.
        let plot_w = self.width.saturating_sub(left + right) as f64;
        let (x_ticks, x_dec) = (2..=6)
            .rev()
            .map(|target| ticks(x_lo, x_hi, target))
            .find(|(t, dec)| {
                let widest = t
                    .iter()
                    .map(|v| text_size(&format!("{v:.dec$}"), s).0)
                    .max()
                    .unwrap_or(0);
                let spacing = if t.len() > 1 {
                    (t[1] - t[0]) / (x_hi - x_lo) * plot_w
                } else {
                    plot_w
                };
                spacing >= widest as f64 + 2.0 * th as f64 / 3.0
            })
            .unwrap_or_else(|| ticks(x_lo, x_hi, 2));
        let (px0, px1) = (left as f64, (self.width - right) as f64);
        let (py0, py1) = ((self.height - bottom) as f64, top as f64);
        let to_px = |x: f64| px0 + (x - x_lo) / (x_hi - x_lo) * (px1 - px0);
        let to_py = |y: f64| py0 + (y - y_lo) / (y_hi - y_lo) * (py1 - py0);
        let mut img = Image::filled_rgb(self.width, self.height, WHITE);
        // Grid lines and ticks.
        for (v, label) in y_ticks.iter().zip(&y_labels) {
            let y = to_py(*v);
            line(&mut img, (px0, y), (px1, y), GRID, 1);
            line(&mut img, (px0 - 4.0, y), (px0, y), INK, 1);
            let w = text_size(label, s).0 as f64;
            draw_text(
                &mut img,
                label,
                (px0 - 6.0 - w) as i64,
                (y - th as f64 / 2.0) as i64,
                s,
                INK,
            );
        }
        for v in &x_ticks {
            let x = to_px(*v);
            line(&mut img, (x, py0), (x, py1), GRID, 1);
            line(&mut img, (x, py0), (x, py0 + 4.0), INK, 1);
            let label = format!("{v:.x_dec$}");
            let w = text_size(&label, s).0 as f64;
            draw_text(&mut img, &label, (x - w / 2.0) as i64, (py0 + 6.0) as i64, s, INK);
        }
        // Axes.
        line(&mut img, (px0, py0), (px1, py0), INK, 1);
        line(&mut img, (px0, py0), (px0, py1), INK, 1);
        // Series, clipped to the plot.
        for (k, series) in self.series.iter().enumerate() {
            let rgb = PALETTE[k % PALETTE.len()];
            let inside = |(x, y): (f64, f64)| x.is_finite() && y.is_finite();
            let px = |(x, y): (f64, f64)| (to_px(x), to_py(y.clamp(y_lo, y_hi)));
            for w in series.points.windows(2) {
                if inside(w[0]) && inside(w[1]) {
                    line(&mut img, px(w[0]), px(w[1]), rgb, 2);
                }
            }
            if series.points.len() <= 40 {
                for &p in series.points.iter().filter(|p| inside(**p)) {
                    let (x, y) = px(p);
                    line(&mut img, (x - 1.0, y), (x + 1.0, y), rgb, 4);
                }
            }
            // Legend entry.
            let ly = (top + k * (th + th / 2)) as i64;
            let lx = (self.width - right + th) as f64;
            let mid = ly as f64 + th as f64 / 2.0;
            line(&mut img, (lx, mid), (lx + 2.0 * th as f64, mid), rgb, 3);
            draw_text(&mut img, &series.name, (lx + 2.5 * th as f64) as i64, ly, s, INK);
        }
        // Texts.
        if !self.title.is_empty() {
            let w = text_size(&self.title, s).0;
            let x = (self.width.saturating_sub(w)) / 2;
            draw_text(&mut img, &self.title, x as i64, (th / 2) as i64, s, INK);
        }
        if !self.y_label.is_empty() {
            let y = top - 2 * th;
            draw_text(
                &mut img,
                &self.y_label,
                (px0 as usize).saturating_sub(th) as i64,
                y as i64,
                s,
                INK,
            );
        }
        if !self.x_label.is_empty() {
            let w = text_size(&self.x_label, s).0 as f64;
            let y = py0 + 6.0 + th as f64 * 1.8;
            draw_text(
                &mut img,
                &self.x_label,
                ((px0 + px1 - w) / 2.0) as i64,
                y as i64,
                s,
                INK,
            );
        }
        Ok(img)
    }

    /// Renders the chart and writes it as a PNG (atomically, see [`Image::write_png`]).
    pub fn write_png(&self, path: &Path) -> Result<()> {
        self.render()?.write_png(path)
    }
}
