//! The residual join written out per position in `f64`: the oracle of the op's tests.

/// `y = max(a + b, 0)` and the gradient both inputs receive, `dy · [a + b > 0]`.
pub fn add_relu(a: &[f64], b: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut y = Vec::with_capacity(a.len());
    let mut d = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        let s = a[i] + b[i];
        y.push(if s > 0.0 { s } else { 0.0 });
        d.push(if s > 0.0 { dy[i] } else { 0.0 });
    }
    (y, d)
}
