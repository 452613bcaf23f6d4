//! Drawing: traces a template's strokes, distorts them with a random hand, and renders them with
//! an anti-aliased pen into 28×28 bytes.

use super::random::{SplitMix64, sin_cos};
use super::templates::Op::{self, A, C, L, M};
use super::templates::{STYLES, Style, TEMPLATES, Template};
use super::{PIXELS, SIDE, warp};

#[derive(Clone, Copy, Debug)]
struct P {
    x: f64,
    y: f64,
}

fn p(x: f64, y: f64) -> P {
    P { x, y }
}

fn dist(a: P, b: P) -> f64 {
    ((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)).sqrt()
}

/// Spacing of the polyline points along a stroke, in template units (about 0.7 px).
const STEP: f64 = 0.04;

/// Moves every point of a stroke's operations by up to `j` (template units) and turns its arcs'
/// ends by up to `60·j` degrees and scales their radii by up to `1 ± 2j`, so that the template's
/// parts (a loop's size, a stem's place) vary independently of each other.
fn jitter(op: Op, j: f64, rng: &mut SplitMix64) -> Op {
    let mut d = || rng.sym(j);
    match op {
        M(x, y) => M(x + d(), y + d()),
        L(x, y) => L(x + d(), y + d()),
        C(x1, y1, x2, y2, x, y) => C(x1 + d(), y1 + d(), x2 + d(), y2 + d(), x + d(), y + d()),
        A(cx, cy, rx, ry, a0, a1) => A(
            cx + d(),
            cy + d(),
            rx * (1.0 + 2.0 * d()),
            ry * (1.0 + 2.0 * d()),
            a0 + 60.0 * d(),
            a1 + 60.0 * d(),
        ),
    }
}

/// The polyline of a stroke, in template units, its operations jittered by up to `j`.
fn trace(ops: &[Op], j: f64, rng: &mut SplitMix64) -> Vec<P> {
    let mut pts: Vec<P> = Vec::with_capacity(64);
    for &op in ops {
        match jitter(op, j, rng) {
            M(x, y) => pts.push(p(x, y)),
            L(x, y) => {
                let a = *pts.last().expect("a line needs a start");
                let b = p(x, y);
                let n = (dist(a, b) / STEP).ceil().max(1.0) as usize;
                for i in 1..=n {
                    let t = i as f64 / n as f64;
                    pts.push(p(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t));
                }
            }
            C(x1, y1, x2, y2, x, y) => {
                let a = *pts.last().expect("a curve needs a start");
                let (c1, c2, b) = (p(x1, y1), p(x2, y2), p(x, y));
                let n = ((dist(a, c1) + dist(c1, c2) + dist(c2, b)) / STEP)
                    .ceil()
                    .max(1.0) as usize;
                for i in 1..=n {
                    let t = i as f64 / n as f64;
                    let u = 1.0 - t;
                    let (w0, w1, w2, w3) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                    pts.push(p(
                        w0 * a.x + w1 * c1.x + w2 * c2.x + w3 * b.x,
                        w0 * a.y + w1 * c1.y + w2 * c2.y + w3 * b.y,
                    ));
                }
            }
            A(cx, cy, rx, ry, a0, a1) => {
                let sweep = (a1 - a0).abs().to_radians() * rx.max(ry);
                let n = (sweep / STEP).ceil().max(1.0) as usize;
                for i in 0..=n {
                    let a = (a0 + (a1 - a0) * i as f64 / n as f64).to_radians();
                    let (s, c) = sin_cos(a);
                    pts.push(p(cx + rx * c, cy + ry * s));
                }
            }
        }
    }
    pts
}

/// Moves the start of a polyline by `delta` along it: shortens it when negative, extends it
/// along its first segment's direction when positive. Keeps at least a few points.
fn adjust_start(pts: &mut Vec<P>, delta: f64) {
    if pts.len() < 2 {
        return;
    }
    if delta > 0.0 {
        let (a, b) = (pts[0], pts[1]);
        let d = dist(a, b);
        if d > 1e-9 {
            let e = p(a.x + (a.x - b.x) / d * delta, a.y + (a.y - b.y) / d * delta);
            pts.insert(0, e);
        }
    } else {
        let mut left = -delta;
        let mut k = 0;
        while k + 4 < pts.len() {
            let d = dist(pts[k], pts[k + 1]);
            if d > left {
                let t = left / d;
                pts[k] = p(
                    pts[k].x + (pts[k + 1].x - pts[k].x) * t,
                    pts[k].y + (pts[k + 1].y - pts[k].y) * t,
                );
                break;
            }
            left -= d;
            k += 1;
        }
        pts.drain(..k);
    }
}

/// The nodes of the elastic field per axis: a cubic B-spline grid over template coordinates
/// `-0.25..=1.25` in steps of `FIELD_STEP`, so that the field covers the unit box and a little
/// beyond it.
const FIELD_NODES: usize = 7;
const FIELD_STEP: f64 = 0.25;
const FIELD_START: f64 = -0.25;

/// The uniform cubic B-spline's weights of the four nodes around a point at fraction `t` of
/// its cell: smooth (C²), positive, and summing to 1.
fn bspline(t: f64) -> [f64; 4] {
    let u = 1.0 - t;
    [
        u * u * u / 6.0,
        (3.0 * t * t * t - 6.0 * t * t + 4.0) / 6.0,
        (-3.0 * t * t * t + 3.0 * t * t + 3.0 * t + 1.0) / 6.0,
        t * t * t / 6.0,
    ]
}

/// The random hand of one image: every distortion between template and pixels.
struct Hand {
    /// Vertical warp `y + waist·y(1−y)`: moves the middle of the digit up or down.
    waist: f64,
    /// Horizontal taper: the width scales by `1 + taper·(y − ½)`.
    taper: f64,
    /// An elastic displacement field: a random `(dx, dy)` at each node of a B-spline grid,
    /// interpolated smoothly in between (the geometric counterpart of Simard et al.'s elastic
    /// distortion, applied to the pen's path instead of the pixels).
    field: [[(f64, f64); FIELD_NODES]; FIELD_NODES],
    /// Template units to pixels: the linear part of the affine map.
    m: [f64; 4],
}

impl Hand {
    fn new(style: Style, rng: &mut SplitMix64) -> Self {
        let waist = rng.sym(0.3);
        let taper = rng.sym(0.55);
        let strength = rng.range(0.0, 0.35);
        let field = std::array::from_fn(|_| std::array::from_fn(|_| (rng.sym(strength), rng.sym(strength))));
        let width = rng.range(0.7, 1.4) * style.width;
        // Handwriting leans right more often than left: a negative shear moves the top right.
        let shear = rng.range(-0.36, 0.15) - style.lean;
        let (s, c) = sin_cos(rng.range(-12.0, 18.0).to_radians());
        // Rotation · [[width, shear], [0, 1]]; the size is set later, when the digit is fit.
        let (a, b, d) = (width, shear, 1.0);
        let m = [c * a, c * b - s * d, s * a, s * b + c * d];
        Hand {
            waist,
            taper,
            field,
            m,
        }
    }

    /// The elastic field's displacement at a template point.
    fn displacement(&self, x: f64, y: f64) -> (f64, f64) {
        let cell = |v: f64| {
            let g = ((v - FIELD_START) / FIELD_STEP).clamp(1.0, (FIELD_NODES - 2) as f64 - 1e-9);
            let i = g.floor();
            (i as usize - 1, bspline(g - i))
        };
        let ((i0, wx), (j0, wy)) = (cell(x), cell(y));
        let (mut dx, mut dy) = (0.0, 0.0);
        for (j, wj) in wy.iter().enumerate() {
            for (i, wi) in wx.iter().enumerate() {
                let (fx, fy) = self.field[j0 + j][i0 + i];
                dx += wi * wj * fx;
                dy += wi * wj * fy;
            }
        }
        (dx, dy)
    }

    /// A template point mapped to pixels, before centring.
    fn map(&self, q: P) -> P {
        let y = q.y + self.waist * q.y * (1.0 - q.y);
        let x = 0.5 + (q.x - 0.5) * (1.0 + self.taper * (q.y - 0.5));
        let (dx, dy) = self.displacement(x, y);
        let (u, v) = (x + dx - 0.5, y + dy - 0.5);
        p(self.m[0] * u + self.m[1] * v, self.m[2] * u + self.m[3] * v)
    }
}

/// A polyline in pixels with its pen's half-width at each point.
struct Pen {
    pts: Vec<P>,
    half: Vec<f64>,
}

/// Draws one image of `digit` into `out` (28×28 bytes).
pub(super) fn render(digit: usize, rng: &mut SplitMix64, out: &mut [u8]) {
    let templates = TEMPLATES[digit];
    let total: f64 = templates.iter().map(|t| t.weight).sum();
    let mut pick = rng.unit() * total;
    let mut template = &templates[templates.len() - 1];
    for t in templates {
        if pick < t.weight {
            template = t;
            break;
        }
        pick -= t.weight;
    }
    draw(template, STYLES[digit], rng, out);
}

/// Draws one image of a template into `out` (28×28 bytes).
pub(super) fn draw(template: &Template, style: Style, rng: &mut SplitMix64, out: &mut [u8]) {
    let hand = Hand::new(style, rng);
    let half_width = (0.6 + 1.5 * rng.unit() * rng.unit().sqrt()) * style.pen;
    let soft = rng.range(0.45, 0.95).min(half_width + 0.2);
    let wobble = rng.range(0.0, 0.3);
    let shape_jitter = rng.range(0.0, 0.15);

    // Strokes in pixels, with their pen widths.
    let mut pens: Vec<Pen> = Vec::with_capacity(template.strokes.len());
    for ops in template.strokes {
        let mut pts = trace(ops, shape_jitter, rng);
        adjust_start(&mut pts, rng.range(-0.1, 0.06));
        pts.reverse();
        adjust_start(&mut pts, rng.range(-0.1, 0.06));
        pts.reverse();
        // Separate strokes are placed independently: each moves a little on its own.
        let (ox, oy) = if template.strokes.len() > 1 {
            (rng.sym(0.05), rng.sym(0.05))
        } else {
            (0.0, 0.0)
        };
        let pts: Vec<P> = pts.into_iter().map(|q| hand.map(p(q.x + ox, q.y + oy))).collect();
        let (period, phase) = (rng.range(8.0, 25.0), rng.range(0.0, std::f64::consts::TAU));
        let mut along = 0.0;
        let mut half = Vec::with_capacity(pts.len());
        for i in 0..pts.len() {
            if i > 0 {
                along += dist(pts[i - 1], pts[i]);
            }
            half.push(
                half_width * (1.0 + wobble * sin_cos(along / period * std::f64::consts::TAU + phase).0),
            );
        }
        pens.push(Pen { pts, half });
    }

    // MNIST's normalisation: scale the digit so that its ink's bounding box (at the grey level
    // `BOX_LEVEL`) has its longer side `BOX` px, draw it, then move it by whole pixels so that
    // its centre of mass lands on pixel (14, 14).
    let (mut lo, mut hi) = (p(f64::MAX, f64::MAX), p(f64::MIN, f64::MIN));
    let mut widest: f64 = 0.0;
    for pen in &pens {
        for (q, &h) in pen.pts.iter().zip(&pen.half) {
            lo = p(lo.x.min(q.x), lo.y.min(q.y));
            hi = p(hi.x.max(q.x), hi.y.max(q.y));
            widest = widest.max(h);
        }
    }
    // Where the ink ramp of `draw_segment` crosses `BOX_LEVEL`, beyond the centreline.
    let edge = widest + soft - BOX_LEVEL * 2.0 * soft / INK_GAIN;
    let span = (hi.x - lo.x).max(hi.y - lo.y).max(1e-9);
    let fit = ((BOX - 2.0 * edge) / span).max(0.0);
    // The box's centre at the image centre, give or take the pixel grid's phase.
    let centre = p(SIDE as f64 / 2.0 + rng.sym(0.5), SIDE as f64 / 2.0 + rng.sym(0.5));
    let shift = p(
        centre.x - (lo.x + hi.x) * 0.5 * fit,
        centre.y - (lo.y + hi.y) * 0.5 * fit,
    );
    for pen in &mut pens {
        for q in &mut pen.pts {
            *q = p(q.x * fit + shift.x, q.y * fit + shift.y);
        }
    }

    // Anti-aliased ink: a linear ramp from nothing at `half + soft` from a centreline, reaching
    // full ink before `half − soft` (saturating like MNIST's pen strokes, see `INK_GAIN`).
    let mut ink = [0.0f64; PIXELS];
    for pen in &pens {
        for i in 0..pen.pts.len().saturating_sub(1) {
            let (a, b) = (pen.pts[i], pen.pts[i + 1]);
            let half = 0.5 * (pen.half[i] + pen.half[i + 1]);
            draw_segment(&mut ink, a, b, half, soft);
        }
        if pen.pts.len() == 1 {
            draw_segment(&mut ink, pen.pts[0], pen.pts[0], pen.half[0], soft);
        }
    }
    // A soft pen or a blurred scan in some images: a separable [b, 1, b] / (1 + 2b) blur, then
    // the cores brought back to full ink (MNIST's digits all reach 255).
    if rng.chance(0.5) {
        blur(&mut ink, rng.range(0.1, 0.5));
        let peak = ink.iter().fold(0.0f64, |m, &v| m.max(v));
        if peak > 0.0 && peak < 1.0 {
            ink.iter_mut().for_each(|v| *v /= peak);
        }
    }
    if rng.chance(ELASTIC_P) {
        warp::elastic(&mut ink, ELASTIC_ALPHA, ELASTIC_SIGMA, rng);
    }
    centre_the_mass(&mut ink);
    // The outermost ring stays blank, as in (all but 1 % of) MNIST's digits; only a strong
    // warp of a wide digit reaches it.
    for i in 0..SIDE {
        for k in [i, (SIDE - 1) * SIDE + i, i * SIDE, i * SIDE + SIDE - 1] {
            ink[k] = 0.0;
        }
    }

    // Noise: mild on the ink, and a few faint specks on the background in some images.
    let noise = rng.range(0.0, 0.1);
    for v in &mut ink {
        if *v > 0.0 {
            *v += noise * rng.sym(1.0);
        }
    }
    if rng.chance(0.3) {
        for _ in 0..1 + rng.below(3) {
            // Never on the two outermost rings, which stay blank as in MNIST.
            let k = (2 + rng.below(SIDE - 4)) * SIDE + 2 + rng.below(SIDE - 4);
            ink[k] = (ink[k] + rng.range(0.05, 0.3)).min(1.0);
        }
    }
    for (o, v) in out.iter_mut().zip(ink) {
        *o = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
}

/// The pixel-level elastic distortion (Simard et al.'s values): how often, its scale `α` and
/// smoothness `σ` in pixels.
const ELASTIC_P: f64 = 0.5;
const ELASTIC_ALPHA: f64 = 34.0;
const ELASTIC_SIGMA: f64 = 4.0;

/// The longer side of the ink's bounding box, in pixels, as in MNIST (whose digits were
/// scaled to fit a 20×20 box, then centred by their centre of mass in 28×28).
const BOX: f64 = 20.0;

/// The grey level (0–1) at which the bounding box is measured.
const BOX_LEVEL: f64 = 30.0 / 255.0;

/// Moves the ink by whole pixels so that its centre of mass lands on pixel (14, 14) (row and
/// column indices, as MNIST centres its digits), less where that would push ink onto the
/// outermost ring of pixels.
fn centre_the_mass(ink: &mut [f64; PIXELS]) {
    let (mut mass, mut mx, mut my) = (0.0, 0.0, 0.0);
    let (mut r0, mut r1, mut c0, mut c1) = (SIDE, 0, SIDE, 0);
    for r in 0..SIDE {
        for c in 0..SIDE {
            let v = ink[r * SIDE + c].min(1.0);
            if v > 0.0 {
                mass += v;
                mx += v * c as f64;
                my += v * r as f64;
                (r0, r1, c0, c1) = (r0.min(r), r1.max(r), c0.min(c), c1.max(c));
            }
        }
    }
    if mass == 0.0 {
        return;
    }
    let centre = (SIDE / 2) as f64;
    // The shift, clamped so that rows r0..=r1 and columns c0..=c1 stay inside 1..SIDE-1.
    let clamp = |want: f64, lo: usize, hi: usize| -> isize {
        let (min, max) = (1 - lo as isize, (SIDE - 2) as isize - hi as isize);
        if min > max {
            0
        } else {
            (want.round() as isize).clamp(min, max)
        }
    };
    let dx = clamp(centre - mx / mass, c0, c1);
    let dy = clamp(centre - my / mass, r0, r1);
    if dx == 0 && dy == 0 {
        return;
    }
    let old = *ink;
    ink.fill(0.0);
    for r in r0..=r1 {
        for c in c0..=c1 {
            let (nr, nc) = (r as isize + dy, c as isize + dx);
            if (0..SIDE as isize).contains(&nr) && (0..SIDE as isize).contains(&nc) {
                ink[nr as usize * SIDE + nc as usize] = old[r * SIDE + c];
            }
        }
    }
}

/// Blurs `ink` with the separable kernel `[b, 1, b] / (1 + 2b)` (zero beyond the image).
fn blur(ink: &mut [f64; PIXELS], b: f64) {
    let norm = 1.0 / (1.0 + 2.0 * b);
    let at = |v: &[f64; PIXELS], r: isize, c: isize| -> f64 {
        if (0..SIDE as isize).contains(&r) && (0..SIDE as isize).contains(&c) {
            v[r as usize * SIDE + c as usize]
        } else {
            0.0
        }
    };
    let mut rows = [0.0f64; PIXELS];
    for r in 0..SIDE as isize {
        for c in 0..SIDE as isize {
            rows[r as usize * SIDE + c as usize] =
                (at(ink, r, c) + b * (at(ink, r, c - 1) + at(ink, r, c + 1))) * norm;
        }
    }
    for r in 0..SIDE as isize {
        for c in 0..SIDE as isize {
            ink[r as usize * SIDE + c as usize] =
                (at(&rows, r, c) + b * (at(&rows, r - 1, c) + at(&rows, r + 1, c))) * norm;
        }
    }
}

/// How far the ink ramp overshoots full intensity before clipping: > 1 gives the saturated
/// stroke cores that MNIST has (about 7 % of its pixels are 250 or more), and keeps the cores at
/// 255 under the ink noise.
const INK_GAIN: f64 = 1.25;

/// Draws the segment `a–b` with the given half-width and edge softness, keeping the darkest
/// value at each pixel (so overlapping segments do not add up).
fn draw_segment(ink: &mut [f64; PIXELS], a: P, b: P, half: f64, soft: f64) {
    let reach = half + soft;
    let last = SIDE as f64 - 1.0;
    let c0 = (a.x.min(b.x) - reach - 0.5).floor().clamp(0.0, last) as usize;
    let c1 = (a.x.max(b.x) + reach - 0.5).ceil().clamp(0.0, last) as usize;
    let r0 = (a.y.min(b.y) - reach - 0.5).floor().clamp(0.0, last) as usize;
    let r1 = (a.y.max(b.y) + reach - 0.5).ceil().clamp(0.0, last) as usize;
    let (ex, ey) = (b.x - a.x, b.y - a.y);
    let len2 = ex * ex + ey * ey;
    for r in r0..=r1 {
        let y = r as f64 + 0.5;
        for c in c0..=c1 {
            let x = c as f64 + 0.5;
            let t = if len2 > 0.0 {
                (((x - a.x) * ex + (y - a.y) * ey) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (dx, dy) = (x - a.x - t * ex, y - a.y - t * ey);
            let d = (dx * dx + dy * dy).sqrt();
            let v = (INK_GAIN * (reach - d) / (2.0 * soft)).clamp(0.0, INK_GAIN);
            let cell = &mut ink[r * SIDE + c];
            if v > *cell {
                *cell = v;
            }
        }
    }
}
