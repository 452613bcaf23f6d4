//! The stroke templates: the ways each digit 0 to 9 is commonly written, as pen strokes in a unit
//! box.

/// One drawing operation of a stroke, in the template's unit box (x to the right, y down, the
/// digit's height spanning `0..1`). A stroke is the polyline through its operations' points.
#[derive(Clone, Copy, Debug)]
pub(super) enum Op {
    /// Start (or continue) at a point.
    M(f64, f64),
    /// A line from the current point.
    L(f64, f64),
    /// A cubic Bézier curve from the current point: two control points, then the end.
    C(f64, f64, f64, f64, f64, f64),
    /// An elliptic arc: centre `(cx, cy)`, radii `(rx, ry)`, from angle `a0` to `a1` in degrees
    /// (0° to the right, 90° at the bottom: increasing angles turn clockwise on screen). Joined
    /// to the current point, if any, by a straight line.
    A(f64, f64, f64, f64, f64, f64),
}

use Op::{A, C, L, M};

/// One way of writing a digit: its strokes and its relative frequency among the digit's
/// templates.
pub(super) struct Template {
    pub(super) weight: f64,
    pub(super) strokes: &'static [&'static [Op]],
}

const T0: &[Template] = &[
    // An upright oval, closed with a little overlap at the top.
    Template {
        weight: 0.5,
        strokes: &[&[A(0.5, 0.5, 0.3, 0.48, 250.0, 625.0)]],
    },
    // A narrow oval started at the upper right.
    Template {
        weight: 0.3,
        strokes: &[&[A(0.5, 0.5, 0.24, 0.48, 300.0, 670.0)]],
    },
    // An oval whose end runs on inside it at the top: a little inward tail.
    Template {
        weight: 0.3,
        strokes: &[&[
            A(0.5, 0.5, 0.32, 0.48, 250.0, 590.0),
            A(0.5, 0.54, 0.22, 0.36, 600.0, 660.0),
        ]],
    },
    // A round 0, nearly as wide as it is tall.
    Template {
        weight: 0.35,
        strokes: &[&[A(0.5, 0.5, 0.44, 0.47, 255.0, 630.0)]],
    },
    // A wide, flat oval.
    Template {
        weight: 0.15,
        strokes: &[&[A(0.5, 0.5, 0.5, 0.38, 240.0, 615.0)]],
    },
    // A rounder oval, started at the top left and ending short of closing.
    Template {
        weight: 0.2,
        strokes: &[&[A(0.5, 0.52, 0.36, 0.46, 230.0, 575.0)]],
    },
];

const T1: &[Template] = &[
    // A single down stroke.
    Template {
        weight: 0.75,
        strokes: &[&[M(0.5, 0.0), L(0.5, 1.0)]],
    },
    // With a flag.
    Template {
        weight: 0.19,
        strokes: &[&[M(0.28, 0.2), L(0.56, 0.0), L(0.56, 1.0)]],
    },
    // With a flag and a foot.
    Template {
        weight: 0.06,
        strokes: &[
            &[M(0.3, 0.2), L(0.54, 0.0), L(0.54, 1.0)],
            &[M(0.3, 1.0), L(0.8, 1.0)],
        ],
    },
];

const T2: &[Template] = &[
    // A round top, a curved neck, a flat base.
    Template {
        weight: 0.45,
        strokes: &[&[
            A(0.5, 0.27, 0.3, 0.25, 195.0, 375.0),
            C(0.72, 0.55, 0.45, 0.72, 0.16, 0.98),
            L(0.86, 0.97),
        ]],
    },
    // A wide 2: a broad top and a long base.
    Template {
        weight: 0.25,
        strokes: &[&[
            A(0.5, 0.27, 0.38, 0.25, 190.0, 370.0),
            C(0.86, 0.55, 0.45, 0.74, 0.08, 0.98),
            L(0.94, 0.96),
        ]],
    },
    // A little hook at the top, a long straight neck and a flat base: L-like.
    Template {
        weight: 0.2,
        strokes: &[&[
            M(0.3, 0.14),
            C(0.42, -0.02, 0.76, 0.0, 0.64, 0.28),
            L(0.16, 0.96),
            L(0.9, 0.93),
        ]],
    },
    // A small top over a big round loop that fills the bottom, and a short tail.
    Template {
        weight: 0.2,
        strokes: &[&[
            A(0.5, 0.2, 0.24, 0.18, 200.0, 370.0),
            C(0.74, 0.42, 0.3, 0.5, 0.18, 0.72),
            C(0.1, 1.02, 0.72, 1.04, 0.76, 0.74),
            C(0.78, 0.5, 0.4, 0.52, 0.42, 0.76),
            C(0.44, 0.9, 0.7, 0.96, 0.92, 0.9),
        ]],
    },
    // A ∂-like 2: a hook over the top, the neck down the right side, a big loop round the
    // bottom and back up through the middle, and a tail out to the right (MNIST's 2s taken
    // for 3s).
    Template {
        weight: 0.3,
        strokes: &[&[
            M(0.22, 0.22),
            C(0.3, 0.0, 0.8, -0.02, 0.78, 0.3),
            C(0.76, 0.6, 0.6, 0.95, 0.4, 0.96),
            C(0.1, 0.98, 0.12, 0.6, 0.4, 0.6),
            C(0.62, 0.6, 0.7, 0.85, 0.92, 0.94),
        ]],
    },
    // The same with a short tail.
    Template {
        weight: 0.15,
        strokes: &[&[
            M(0.2, 0.2),
            C(0.3, -0.02, 0.8, -0.02, 0.78, 0.3),
            C(0.76, 0.6, 0.62, 0.95, 0.42, 0.96),
            C(0.1, 0.98, 0.1, 0.62, 0.4, 0.6),
            C(0.55, 0.6, 0.62, 0.72, 0.72, 0.82),
        ]],
    },
    // A smaller top and a straight neck: Z-like.
    Template {
        weight: 0.3,
        strokes: &[&[
            A(0.5, 0.24, 0.28, 0.22, 200.0, 365.0),
            L(0.18, 0.97),
            L(0.84, 0.97),
        ]],
    },
    // A curly 2: the neck runs into a loop at the bottom left, which crosses it and turns
    // into the base.
    Template {
        weight: 0.3,
        strokes: &[&[
            A(0.5, 0.27, 0.32, 0.26, 190.0, 370.0),
            C(0.78, 0.5, 0.6, 0.68, 0.42, 0.82),
            A(0.3, 0.84, 0.13, 0.12, -10.0, 290.0),
            C(0.5, 0.8, 0.6, 0.98, 0.9, 0.94),
        ]],
    },
    // A big round loop at the bottom: the neck sweeps down to the left, round and back up
    // through itself, then out along the base.
    Template {
        weight: 0.25,
        strokes: &[&[
            A(0.5, 0.24, 0.3, 0.22, 190.0, 360.0),
            C(0.8, 0.5, 0.3, 0.6, 0.2, 0.82),
            C(0.14, 1.0, 0.6, 1.02, 0.66, 0.8),
            C(0.7, 0.62, 0.5, 0.56, 0.36, 0.68),
            C(0.5, 0.76, 0.7, 0.92, 0.92, 0.94),
        ]],
    },
    // A loop at the bottom left before the base.
    Template {
        weight: 0.2,
        strokes: &[&[
            A(0.5, 0.26, 0.3, 0.25, 195.0, 375.0),
            C(0.72, 0.5, 0.4, 0.7, 0.22, 0.9),
            C(0.12, 1.02, 0.42, 1.02, 0.36, 0.86),
            C(0.32, 0.78, 0.16, 0.86, 0.24, 0.94),
            C(0.36, 1.02, 0.64, 0.94, 0.86, 0.96),
        ]],
    },
];

const T3: &[Template] = &[
    // Two bowls meeting at a cusp.
    Template {
        weight: 0.65,
        strokes: &[&[
            A(0.47, 0.26, 0.28, 0.24, 200.0, 460.0),
            A(0.47, 0.73, 0.32, 0.26, 255.0, 520.0),
        ]],
    },
    // A flat top and a diagonal into the lower bowl.
    Template {
        weight: 0.35,
        strokes: &[&[
            M(0.18, 0.02),
            L(0.78, 0.02),
            L(0.42, 0.42),
            A(0.47, 0.7, 0.32, 0.28, 250.0, 520.0),
        ]],
    },
];

const T4: &[Template] = &[
    // Closed: a diagonal from the top of the stem, a bar, the stem.
    Template {
        weight: 0.45,
        strokes: &[
            &[M(0.64, 0.0), L(0.1, 0.66), L(0.9, 0.66)],
            &[M(0.64, 0.0), L(0.64, 1.0)],
        ],
    },
    // Open: a left upright, the bar, a separate stem.
    Template {
        weight: 0.55,
        strokes: &[
            &[M(0.2, 0.0), L(0.14, 0.6), L(0.88, 0.6)],
            &[M(0.68, 0.02), L(0.68, 1.0)],
        ],
    },
];

const T5: &[Template] = &[
    // A stem, a round belly, and a separate top bar.
    Template {
        weight: 0.6,
        strokes: &[
            &[
                M(0.3, 0.03),
                L(0.26, 0.45),
                A(0.47, 0.68, 0.31, 0.28, 228.0, 505.0),
            ],
            &[M(0.3, 0.03), L(0.8, 0.02)],
        ],
    },
    // A wide 5: a long bar and a broad belly.
    Template {
        weight: 0.3,
        strokes: &[
            &[M(0.24, 0.04), L(0.2, 0.44), A(0.5, 0.68, 0.4, 0.28, 222.0, 505.0)],
            &[M(0.24, 0.04), L(0.92, 0.02)],
        ],
    },
    // One stroke: the bar, a slanted stem, a deeper belly.
    Template {
        weight: 0.4,
        strokes: &[&[
            M(0.82, 0.02),
            L(0.32, 0.04),
            L(0.22, 0.48),
            C(0.5, 0.3, 0.95, 0.48, 0.78, 0.8),
            C(0.64, 1.02, 0.3, 1.02, 0.16, 0.86),
        ]],
    },
];

const T6: &[Template] = &[
    // A curved stem into a round loop.
    Template {
        weight: 0.6,
        strokes: &[&[
            M(0.74, 0.02),
            C(0.45, 0.1, 0.2, 0.38, 0.2, 0.7),
            A(0.47, 0.72, 0.27, 0.26, 180.0, -150.0),
        ]],
    },
    // An upright stem down the left side into a wide, low loop.
    Template {
        weight: 0.3,
        strokes: &[&[
            M(0.45, 0.0),
            C(0.3, 0.25, 0.18, 0.5, 0.2, 0.78),
            A(0.52, 0.78, 0.32, 0.21, 180.0, -160.0),
        ]],
    },
    // A stem hooked at the top, sweeping down the left into a loop that stays open.
    Template {
        weight: 0.3,
        strokes: &[&[
            M(0.8, 0.1),
            C(0.6, -0.06, 0.22, 0.1, 0.18, 0.66),
            A(0.48, 0.74, 0.3, 0.24, 180.0, -70.0),
        ]],
    },
    // A long, nearly upright stem and a small low loop.
    Template {
        weight: 0.2,
        strokes: &[&[
            M(0.5, 0.0),
            C(0.36, 0.3, 0.28, 0.55, 0.3, 0.82),
            A(0.5, 0.82, 0.2, 0.17, 180.0, -160.0),
        ]],
    },
    // An upright stem whose loop, drawn round the bottom and back up, closes by crossing the
    // stem: MNIST's 6s that were taken for 4s.
    Template {
        weight: 0.3,
        strokes: &[&[
            M(0.42, 0.0),
            C(0.28, 0.3, 0.18, 0.6, 0.24, 0.86),
            C(0.3, 1.02, 0.72, 1.02, 0.76, 0.76),
            C(0.78, 0.5, 0.4, 0.48, 0.12, 0.62),
        ]],
    },
    // A straight slanted stem and a smaller loop.
    Template {
        weight: 0.4,
        strokes: &[&[
            M(0.66, 0.0),
            L(0.27, 0.6),
            A(0.5, 0.76, 0.25, 0.23, 200.0, -140.0),
        ]],
    },
];

const T7: &[Template] = &[
    // A bar and a straight stem.
    Template {
        weight: 0.5,
        strokes: &[&[M(0.14, 0.03), L(0.86, 0.03), L(0.42, 1.0)]],
    },
    // A short bar and a long stem.
    Template {
        weight: 0.2,
        strokes: &[&[M(0.32, 0.05), L(0.82, 0.03), L(0.46, 1.0)]],
    },
    // A bar curving into the stem.
    Template {
        weight: 0.2,
        strokes: &[&[
            M(0.14, 0.14),
            C(0.35, 0.0, 0.7, 0.02, 0.86, 0.05),
            C(0.7, 0.35, 0.55, 0.65, 0.5, 1.0),
        ]],
    },
    // A long tick down from the left end of the bar, and a straight stem.
    Template {
        weight: 0.2,
        strokes: &[&[M(0.16, 0.36), L(0.14, 0.04), L(0.84, 0.04), L(0.5, 1.0)]],
    },
    // A curved top, a long stem and a crossbar through it.
    Template {
        weight: 0.12,
        strokes: &[
            &[
                M(0.12, 0.12),
                C(0.35, 0.0, 0.7, 0.02, 0.86, 0.04),
                C(0.7, 0.35, 0.55, 0.65, 0.48, 1.0),
            ],
            &[M(0.3, 0.5), L(0.86, 0.48)],
        ],
    },
    // With a crossbar.
    Template {
        weight: 0.2,
        strokes: &[
            &[M(0.14, 0.03), L(0.86, 0.03), L(0.44, 1.0)],
            &[M(0.38, 0.52), L(0.82, 0.5)],
        ],
    },
    // A curved stem and a little hook at the start of the bar.
    Template {
        weight: 0.25,
        strokes: &[&[
            M(0.12, 0.14),
            L(0.14, 0.04),
            L(0.86, 0.04),
            C(0.62, 0.36, 0.46, 0.66, 0.46, 1.0),
        ]],
    },
];

const T8: &[Template] = &[
    // A small top loop sitting to the right of a big bottom loop.
    Template {
        weight: 0.3,
        strokes: &[
            &[A(0.6, 0.22, 0.18, 0.2, 90.0, 455.0)],
            &[A(0.44, 0.7, 0.3, 0.28, 270.0, 635.0)],
        ],
    },
    // One slanted stroke, open at the top: from the top right over to the left, down through
    // the waist, round the bottom and back up through the waist, stopping short of the start.
    Template {
        weight: 0.4,
        strokes: &[&[
            M(0.8, 0.12),
            C(0.66, -0.04, 0.3, 0.0, 0.36, 0.22),
            C(0.4, 0.42, 0.74, 0.48, 0.68, 0.74),
            C(0.62, 1.02, 0.1, 1.02, 0.16, 0.74),
            C(0.2, 0.5, 0.66, 0.44, 0.74, 0.2),
        ]],
    },
    // One stroke from the waist: the top loop, then the bottom loop, meeting at a point.
    Template {
        weight: 0.2,
        strokes: &[&[
            M(0.5, 0.46),
            C(0.88, 0.3, 0.78, 0.0, 0.52, 0.0),
            C(0.24, 0.0, 0.12, 0.3, 0.5, 0.46),
            C(0.9, 0.62, 0.86, 1.0, 0.5, 1.0),
            C(0.14, 1.0, 0.1, 0.62, 0.5, 0.46),
        ]],
    },
    // An S, then a straight line back up to its start.
    Template {
        weight: 0.3,
        strokes: &[&[
            M(0.76, 0.14),
            C(0.64, -0.04, 0.24, 0.0, 0.28, 0.24),
            C(0.32, 0.46, 0.78, 0.5, 0.76, 0.76),
            C(0.74, 1.02, 0.26, 1.02, 0.24, 0.8),
            L(0.74, 0.16),
        ]],
    },
    // A big top loop over a small bottom one.
    Template {
        weight: 0.2,
        strokes: &[
            &[A(0.5, 0.3, 0.28, 0.29, 90.0, 455.0)],
            &[A(0.47, 0.8, 0.19, 0.19, 270.0, 635.0)],
        ],
    },
    // Two stacked loops.
    Template {
        weight: 0.3,
        strokes: &[
            &[A(0.5, 0.25, 0.22, 0.23, 90.0, 455.0)],
            &[A(0.5, 0.72, 0.28, 0.26, 270.0, 635.0)],
        ],
    },
    // One stroke: an S down, then back up through the waist.
    Template {
        weight: 0.5,
        strokes: &[&[
            M(0.74, 0.14),
            C(0.62, -0.04, 0.22, -0.02, 0.27, 0.24),
            C(0.31, 0.44, 0.8, 0.5, 0.79, 0.75),
            C(0.78, 1.03, 0.22, 1.03, 0.21, 0.76),
            C(0.2, 0.52, 0.72, 0.46, 0.73, 0.24),
            C(0.74, 0.06, 0.52, 0.0, 0.42, 0.02),
        ]],
    },
];

const T9: &[Template] = &[
    // A loop and a straight stem down from its right side.
    Template {
        weight: 0.45,
        strokes: &[&[A(0.48, 0.28, 0.27, 0.25, 5.0, -355.0), L(0.72, 1.0)]],
    },
    // A loop and a stem curving to the left at the bottom.
    Template {
        weight: 0.3,
        strokes: &[&[
            A(0.48, 0.28, 0.27, 0.25, 5.0, -355.0),
            C(0.76, 0.6, 0.72, 0.86, 0.5, 1.0),
        ]],
    },
    // A small loop, pointed at the top left, and a long straight stem.
    Template {
        weight: 0.3,
        strokes: &[&[
            M(0.7, 0.1),
            C(0.55, -0.02, 0.22, 0.02, 0.22, 0.24),
            C(0.22, 0.42, 0.6, 0.44, 0.7, 0.14),
            L(0.6, 1.0),
        ]],
    },
    // A loop, then a separate straight stem.
    Template {
        weight: 0.25,
        strokes: &[
            &[A(0.46, 0.28, 0.27, 0.25, -20.0, 345.0)],
            &[M(0.74, 0.06), L(0.68, 1.0)],
        ],
    },
];

/// A digit's lean, width and pen beyond its templates' own, so that the drawn digits' slant,
/// width and ink match MNIST's (the medians per digit of the ink's `−cov(x, y) / var(y)`, of
/// `σ_x / σ_y` and of the count of pixels at 128 or more, measured on MNIST's test set and on
/// the generator's output).
#[derive(Clone, Copy, Debug)]
pub(super) struct Style {
    /// Added to the slant: the top moves right by `lean` times the height.
    pub(super) lean: f64,
    /// Scales the width.
    pub(super) width: f64,
    /// Scales the pen's width.
    pub(super) pen: f64,
}

const fn style(lean: f64, width: f64, pen: f64) -> Style {
    Style { lean, width, pen }
}

pub(super) const STYLES: [Style; 10] = [
    style(0.1, 1.03, 1.12),
    style(0.08, 0.85, 1.15),
    style(-0.06, 1.08, 1.05),
    style(-0.08, 0.95, 1.0),
    style(0.07, 1.0, 1.0),
    style(0.13, 1.0, 1.0),
    style(-0.14, 1.07, 1.05),
    style(-0.14, 1.0, 1.15),
    style(-0.07, 0.9, 0.92),
    style(0.07, 0.97, 1.0),
];

pub(super) const TEMPLATES: [&[Template]; 10] = [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9];
