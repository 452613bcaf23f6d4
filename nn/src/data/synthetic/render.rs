//! Drawing: traces a template's strokes, distorts them with a random hand, and renders them with
//! an anti-aliased pen into 28×28 bytes.

use super::random::{SplitMix64, sin_cos};
use super::templates::Op::{self, A, C, L, M};
use super::templates::{TEMPLATES, Template};
use super::{PIXELS, SIDE};

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

/// The polyline of a stroke, in template units.
fn trace(ops: &[Op]) -> Vec<P> {
    let mut pts: Vec<P> = Vec::with_capacity(64);
    for &op in ops {
        match op {
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

/// The random hand of one image: every distortion between template and pixels.
struct Hand {
    /// Vertical warp `y + waist·y(1−y)`: moves the middle of the digit up or down.
    waist: f64,
    /// Horizontal taper: the width scales by `1 + taper·(y − ½)`.
    taper: f64,
    /// A smooth displacement field, `Σ amp·sin(k·p + phase)` per axis.
    waves: [(f64, f64, f64, f64, bool); 6],
    /// Template units to pixels: the linear part of the affine map.
    m: [f64; 4],
}

impl Hand {
    fn new(rng: &mut SplitMix64) -> Self {
        let waist = rng.sym(0.14);
        let taper = rng.sym(0.3);
        let waves = std::array::from_fn(|i| {
            let amp = rng.range(0.0, 0.05);
            let wavelength = rng.range(0.6, 1.6);
            let (s, c) = sin_cos(rng.range(0.0, std::f64::consts::TAU));
            let k = std::f64::consts::TAU / wavelength;
            (
                amp,
                k * c,
                k * s,
                rng.range(0.0, std::f64::consts::TAU),
                i % 2 == 0,
            )
        });
        let size = 18.5 * rng.range(0.8, 1.1);
        let width = rng.range(0.85, 1.15);
        // Handwriting leans right more often than left: a negative shear moves the top right.
        let shear = rng.range(-0.32, 0.08);
        let (s, c) = sin_cos(rng.range(-8.0, 17.0).to_radians());
        // Rotation · [[size·width, shear·size], [0, size]]
        let (a, b, d) = (size * width, shear * size, size);
        let m = [c * a, c * b - s * d, s * a, s * b + c * d];
        Hand {
            waist,
            taper,
            waves,
            m,
        }
    }

    /// A template point mapped to pixels, before centring.
    fn map(&self, q: P) -> P {
        let y = q.y + self.waist * q.y * (1.0 - q.y);
        let x = 0.5 + (q.x - 0.5) * (1.0 + self.taper * (q.y - 0.5));
        let (mut dx, mut dy) = (0.0, 0.0);
        for &(amp, kx, ky, phase, horizontal) in &self.waves {
            let v = amp * sin_cos(kx * x + ky * y + phase).0;
            if horizontal {
                dx += v;
            } else {
                dy += v;
            }
        }
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
    draw(template, rng, out);
}

/// Draws one image of a template into `out` (28×28 bytes).
pub(super) fn draw(template: &Template, rng: &mut SplitMix64, out: &mut [u8]) {
    let hand = Hand::new(rng);
    let half_width = rng.range(0.68, 1.6);
    let soft = rng.range(0.45, 0.95).min(half_width + 0.2);
    let wobble = rng.range(0.0, 0.15);

    // Strokes in pixels, with their pen widths.
    let mut pens: Vec<Pen> = Vec::with_capacity(template.strokes.len());
    for ops in template.strokes {
        let mut pts = trace(ops);
        adjust_start(&mut pts, rng.range(-0.1, 0.06));
        pts.reverse();
        adjust_start(&mut pts, rng.range(-0.1, 0.06));
        pts.reverse();
        let pts: Vec<P> = pts.into_iter().map(|q| hand.map(q)).collect();
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

    // Centre the ink (length-weighted centroid of the centrelines) near the image centre, then
    // keep the digit inside the frame with a blank pixel at the border.
    let (mut sx, mut sy, mut sl) = (0.0, 0.0, 0.0);
    let (mut lo, mut hi) = (p(f64::MAX, f64::MAX), p(f64::MIN, f64::MIN));
    for pen in &pens {
        for w in pen.pts.windows(2) {
            let l = dist(w[0], w[1]);
            sx += (w[0].x + w[1].x) * 0.5 * l;
            sy += (w[0].y + w[1].y) * 0.5 * l;
            sl += l;
        }
        for (q, &h) in pen.pts.iter().zip(&pen.half) {
            lo = p(lo.x.min(q.x - h), lo.y.min(q.y - h));
            hi = p(hi.x.max(q.x + h), hi.y.max(q.y + h));
        }
    }
    let centre = if sl > 0.0 {
        p(sx / sl, sy / sl)
    } else {
        p(0.0, 0.0)
    };
    let room = SIDE as f64 - 2.0 - 2.0 * soft;
    let fit = (room / (hi.x - lo.x)).min(room / (hi.y - lo.y)).min(1.0);
    let target = p(SIDE as f64 / 2.0 + rng.sym(2.0), SIDE as f64 / 2.0 + rng.sym(2.0));
    let mut shift = p(target.x - centre.x * fit, target.y - centre.y * fit);
    let margin = 1.0 + soft;
    let bound = SIDE as f64 - margin;
    shift.x += (margin - (lo.x * fit + shift.x)).max(0.0) - (hi.x * fit + shift.x - bound).max(0.0);
    shift.y += (margin - (lo.y * fit + shift.y)).max(0.0) - (hi.y * fit + shift.y - bound).max(0.0);
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
            let half = 0.5 * (pen.half[i] + pen.half[i + 1]) * fit;
            draw_segment(&mut ink, a, b, half, soft);
        }
        if pen.pts.len() == 1 {
            draw_segment(&mut ink, pen.pts[0], pen.pts[0], pen.half[0], soft);
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
