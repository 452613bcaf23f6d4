//! The error function in `f64`, for GELU: the Maclaurin series for `|x| ≤ 2` (its terms
//! stay below 3, so it loses no digits to cancellation) and the continued fraction of `erfc`
//! beyond (60 terms are exact to rounding there).

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// `erf(x) = (2/√π) ∫₀ˣ e^(−t²) dt`; NaN for NaN.
///
/// ```
/// use nn::ops::pointwise::erf;
/// assert!((erf(1.0) - 0.842_700_792_949_714_9).abs() < 1e-15);
/// assert_eq!(erf(-0.5), -erf(0.5));
/// ```
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let v = if a <= 2.0 {
        // Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)).
        let (x2, mut term, mut sum) = (a * a, a, a);
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        FRAC_2_SQRT_PI * sum
    } else if a.is_finite() {
        // erfc(a) = e^(−a²) / (√π · (a + (1/2)/(a + 1/(a + (3/2)/(a + …))))).
        let mut t = a;
        for k in (1..=60).rev() {
            t = a + (k as f64 / 2.0) / t;
        }
        1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * t)
    } else if a.is_nan() {
        return f64::NAN;
    } else {
        1.0
    };
    v.copysign(x)
}
