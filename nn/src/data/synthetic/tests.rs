//! Unit tests of the generator's parts: the random numbers, the sine and cosine, and every
//! template drawn.

use super::random::{SplitMix64, exp_neg, hash2, sin_cos};
use super::render::draw;
use super::templates::{STYLES, TEMPLATES};
use super::{PIXELS, SIDE};

#[test]
fn sin_cos_matches_the_math_library() {
    let mut worst: f64 = 0.0;
    for i in -20_000..=20_000 {
        let x = i as f64 * 0.001_234_567;
        let (s, c) = sin_cos(x);
        worst = worst.max((s - x.sin()).abs()).max((c - x.cos()).abs());
    }
    assert!(worst < 1e-12, "worst error {worst:e}");
}

#[test]
fn exp_neg_matches_the_math_library() {
    let mut worst: f64 = 0.0;
    for i in 0..=50_000 {
        let x = i as f64 * 0.001_003;
        let want = (-x).exp();
        worst = worst.max((exp_neg(x) - want).abs() / want);
    }
    assert!(worst < 1e-12, "worst relative error {worst:e}");
    assert_eq!(exp_neg(0.0), 1.0);
    assert_eq!(exp_neg(800.0), 0.0);
}

#[test]
fn splitmix_matches_the_reference_stream() {
    // The first outputs of SplitMix64 seeded with 1234567, from the reference C code.
    let mut rng = SplitMix64::new(1_234_567);
    let expected: [u64; 3] = [
        6_457_827_717_110_365_317,
        3_203_168_211_198_807_973,
        9_817_491_932_198_370_423,
    ];
    for e in expected {
        assert_eq!(rng.next_u64(), e);
    }
}

#[test]
fn uniform_draws_cover_their_ranges() {
    let mut rng = SplitMix64::new(9);
    let mut counts = [0usize; 7];
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for _ in 0..70_000 {
        counts[rng.below(7)] += 1;
        let u = rng.range(-2.0, 3.0);
        lo = lo.min(u);
        hi = hi.max(u);
    }
    assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
    assert!(
        (-2.0..-1.99).contains(&lo) && (2.99..3.0).contains(&hi),
        "{lo} {hi}"
    );
}

/// Ink mass inside a centred `k×k` box, and on the image's outermost ring of pixels.
fn ink_inside(image: &[u8], k: usize) -> (f64, f64, f64) {
    let (mut total, mut inside, mut ring) = (0.0, 0.0, 0.0);
    let lo = (SIDE - k) / 2;
    for r in 0..SIDE {
        for c in 0..SIDE {
            let v = image[r * SIDE + c] as f64;
            total += v;
            if (lo..lo + k).contains(&r) && (lo..lo + k).contains(&c) {
                inside += v;
            }
            if r == 0 || c == 0 || r == SIDE - 1 || c == SIDE - 1 {
                ring += v;
            }
        }
    }
    (total, inside, ring)
}

#[test]
fn every_template_draws_a_digit_inside_the_frame() {
    for (digit, templates) in TEMPLATES.iter().enumerate() {
        for (k, template) in templates.iter().enumerate() {
            let mut inside_share = 0.0;
            for i in 0..50 {
                let mut rng = SplitMix64::new(hash2(digit as u64 * 100 + k as u64, i));
                let mut image = [0u8; PIXELS];
                draw(template, STYLES[digit], &mut rng, &mut image);
                let (total, inside, ring) = ink_inside(&image, 22);
                let strong = image.iter().filter(|&&v| v >= 128).count();
                let peak = image.iter().max().unwrap();
                assert!(
                    strong >= 15,
                    "digit {digit} template {k} image {i}: {strong} pixels of ink"
                );
                assert!(
                    *peak >= 200,
                    "digit {digit} template {k} image {i}: faint ink, {peak} at most"
                );
                assert!(
                    ring == 0.0,
                    "digit {digit} template {k} image {i}: ink {ring} on the border"
                );
                inside_share += inside / total / 50.0;
            }
            assert!(
                inside_share > 0.95,
                "digit {digit} template {k}: {inside_share} of the ink in the 22×22 centre"
            );
        }
    }
}

#[test]
fn templates_of_a_digit_differ_and_weights_are_positive() {
    for (digit, templates) in TEMPLATES.iter().enumerate() {
        assert!(templates.iter().all(|t| t.weight > 0.0), "digit {digit}");
        // Drawn with the same hand, two templates of a digit must give different images.
        for a in 0..templates.len() {
            for b in a + 1..templates.len() {
                let (mut ia, mut ib) = ([0u8; PIXELS], [0u8; PIXELS]);
                draw(&templates[a], STYLES[digit], &mut SplitMix64::new(5), &mut ia);
                draw(&templates[b], STYLES[digit], &mut SplitMix64::new(5), &mut ib);
                let diff: f64 = ia
                    .iter()
                    .zip(&ib)
                    .map(|(&x, &y)| (x as f64 - y as f64).abs())
                    .sum();
                assert!(
                    diff > 20.0 * 255.0,
                    "digit {digit}: templates {a} and {b} differ by {diff}"
                );
            }
        }
    }
    // The digits commonly written in several ways have several templates.
    for digit in [1, 2, 4, 7, 9] {
        assert!(TEMPLATES[digit].len() >= 2, "digit {digit}");
    }
}
