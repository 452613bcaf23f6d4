//! Gradient checking: the tape's gradients against central finite differences in `f64`, what
//! `torch.autograd.gradcheck` does.
//!
//! For a function `y = f(x_1, .., x_n)` of tape variables, the check draws a fixed random
//! tensor `r` of `y`'s shape (seeded) and compares, for every element of every input, the
//! tape's vector-Jacobian product `∂(Σ r ⊙ y)/∂x` with the central difference
//! `(L(x + ε) - L(x - ε)) / 2ε` where `L = Σ r ⊙ f(..)`, computed as `Σ r ⊙ (y⁺ - y⁻) / 2ε`.
//! An element passes when `|analytic - numeric| <= atol + rtol · |numeric| + fd_rounding`,
//! where `fd_rounding` bounds the rounding of the finite difference itself (see
//! [`GradCheck`]).

use crate::element::Element;
use crate::error::{Error, Result};
use crate::shape;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Options of a gradient check.
///
/// # The tolerance
///
/// Element `x_j` (of any input) passes when
///
/// ```text
/// |analytic_j - numeric_j| <= atol + rtol · |numeric_j| + fd_rounding_j
///
/// fd_rounding_j = u/ε · ( rounding_factor · Σ_{k ∈ M_j} |r_k| · (max(|y⁺_k|, |y⁻_k|) + C_k)
///                         + (m_j + 2)/2 · Σ_{k ∈ M_j} |r_k · (y⁺_k - y⁻_k)| )
/// C_k = Σ_i |x_i| · |y⁺_k(i) - y⁻_k(i)| / 2ε            (≈ Σ_i |x_i| · |∂y_k/∂x_i|)
/// ```
///
/// where `u = f64::EPSILON` (2.2e-16), `y^± = f(.., x_j ± ε, ..)`, `M_j` is the set of
/// outputs that differ between those two evaluations, `m_j` their number, and `C_k` sums
/// over every element `x_i` of every input (from the same finite differences, after all of
/// them are done; the tape's gradient plays no part in the tolerance, so a wrong backward
/// rule cannot widen it). The allowance grows with the number of outputs `x_j` reaches and
/// with the magnitude of `r ⊙ y` there, and falls as `ε` grows; `atol` and `rtol` mean what
/// they always did, on top of it.
///
/// ## Why
///
/// A finite difference divides the difference of two nearly equal values by `2ε`, so any
/// rounding in them is amplified by `1/ε` (1e6 by default); a fixed `atol` cannot follow
/// it, since it grows with the size and magnitude of `Σ r ⊙ y`.
///
/// - *The check's own sum.* `L = Σ_k r_k y_k` over `n` outputs rounds at about
///   `u · Σ_k |r_k y_k|`, differently at `x + ε` and at `x - ε`: for a thousand outputs of
///   magnitude ~500, errors of ~1e-5 after the division, which is how correct ops with
///   hundreds of outputs failed the fixed `atol + rtol · |numeric|` at random. So the check
///   does not difference two sums: it sums the differences, `Σ_k r_k (y⁺_k - y⁻_k)`. An
///   output that `x_j` does not reach is computed identically both times and adds exactly
///   zero; the rounding of the `m_j` remaining products, subtractions and additions is at
///   most `(m_j + 2)/2 · u · Σ |r_k (y⁺_k - y⁻_k)|` (the standard `γ_{m+2}` bound), the
///   second term above, negligible in practice.
/// - *The rounding of `f`.* Each output `x_j` reaches is recomputed, and its rounding
///   error differs between the two evaluations. The allowance assumes every output is
///   computed to within `rounding_factor · u · (|y_k| + C_k)`: the result of a backward-
///   stable computation (the exact `f` of inputs perturbed by `~u` relative, so an error of
///   `~u · Σ_i |x_i| |∂y_k/∂x_i| = u · C_k`), rounded once more (`u · |y_k|`). `C_k` is
///   what a bound on `|y_k|` alone misses: an output that is a sum of many terms, or a
///   difference such as `x - mean(x)`, can be much smaller than what it is made of, and its
///   rounding follows the terms (`C_k` is twice `Σ |a_ij b_jk|` for a product, `Σ |x_i|`
///   for a sum). The difference of two such errors, weighted by `|r_k|` and divided by
///   `2ε`, is at most the first term above.
///
/// Measured (`tests/gradcheck_tolerance.rs`, with `atol = rtol = 0`): with
/// `rounding_factor = 1` the worst element of products (up to 20 000-term sums), sums with
/// cancellation, centring with an offset 1000 times the spread, batch and layer
/// normalisation reaches at most 0.15 of the allowance, elementwise `exp`, `ln`, `√`,
/// sigmoid and `x²` 0.6, and softmax 1.5 (the dominant output of a row, ~1, which is a
/// quotient of a rounded sum and so good to ~1.5 `u` per evaluation; rows of 10 to 3000
/// made no difference). The default `rounding_factor` of 8 leaves a margin of 5 or more
/// over the worst of them. For scale: the plain difference of sums needed up to ~1.2 of
/// `u · Σ_k |r_k y_k| / ε` on the same products, and thousands of times that on sums that
/// cancel.
///
/// What it does not cover: a forward that is not backward stable, one whose intermediate
/// values are far larger than its inputs and outputs (`ln(1 + eˣ)` for very negative `x`,
/// rather than `ln_1p`; a variance as `E[x²] - E[x]²`), or that adds constants far larger
/// than its inputs: raise `rounding_factor` there, or `atol`. Nor truncation error
/// (curvature, `~ε² f'''/6`), which `rtol` covers for smooth functions, nor kinks.
///
/// It remains a strict check: the allowance is `rounding_factor · 2.2e-10` (1.8e-9) of
/// `Σ |r_k| (|y_k| + C_k)`, while a gradient wrong by a relative `δ` is off by
/// `δ · |numeric|`. A product with a thousand outputs of ~500 whose backward is off by
/// 1e-4 fails at ~60 times its tolerance, one that drops one element's gradient at 1e5
/// times (`tests/gradcheck_tolerance.rs`).
///
/// Cost: two evaluations of `f` per input element, as before, and memory for the indices
/// of the outputs each element moved (recomputed with two more evaluations per element
/// beyond 2²⁴ of them).
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// The finite-difference step ε (default `1e-6`).
    pub eps: f64,
    /// Absolute tolerance (default `1e-8`).
    pub atol: f64,
    /// Relative tolerance, on `|numeric|` (default `1e-6`).
    pub rtol: f64,
    /// Seed of the projection tensor `r` (default 0).
    pub seed: u64,
    /// The accuracy assumed of each output of `f`, in units of `u · (|y_k| + C_k)` (default
    /// 8; 0 leaves only the bound on the check's own arithmetic). See the type's
    /// documentation.
    pub rounding_factor: f64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            eps: 1e-6,
            atol: 1e-8,
            rtol: 1e-6,
            seed: 0,
            rounding_factor: 8.0,
        }
    }
}

/// One element's analytic and numeric gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementCheck {
    /// Which input (position in the `inputs` slice).
    pub input: usize,
    /// The element's multi-index within that input.
    pub index: Vec<usize>,
    /// The tape's gradient.
    pub analytic: f64,
    /// The finite-difference estimate.
    pub numeric: f64,
}

/// What a gradient check found.
#[derive(Clone, Debug)]
pub struct GradCheckReport {
    /// The largest `|analytic - numeric|` over all elements.
    pub max_abs_error: f64,
    /// The largest `|analytic - numeric| / max(|analytic|, |numeric|)` over elements where
    /// either is larger than `atol` (smaller values are compared absolutely only).
    pub max_rel_error: f64,
    /// The element furthest outside (or least inside) the tolerance.
    pub worst: Option<ElementCheck>,
    /// How many elements were checked.
    pub checked: usize,
    /// Whether every element is within `atol + rtol · |numeric| + fd_rounding`.
    pub passed: bool,
    /// The worst element's `|analytic - numeric| / tolerance`: at most 1 when the check
    /// passed (infinite for a NaN).
    pub worst_ratio: f64,
    /// The worst element's whole tolerance, `atol + rtol · |numeric| + fd_rounding`.
    pub tolerance: f64,
    /// The worst element's rounding allowance, `fd_rounding` (see [`GradCheck`]).
    pub fd_rounding: f64,
    /// The largest rounding allowance over all elements.
    pub max_fd_rounding: f64,
}

impl std::fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gradcheck {}: {} elements, max abs error {:.3e}, max rel error {:.3e}, \
             rounding allowance up to {:.3e}",
            if self.passed { "passed" } else { "FAILED" },
            self.checked,
            self.max_abs_error,
            self.max_rel_error,
            self.max_fd_rounding
        )?;
        if let Some(w) = &self.worst {
            write!(
                f,
                "; worst: input {} at {:?}: analytic {:.9e}, numeric {:.9e}, error {:.3e} = {:.3} \
                 of its tolerance {:.3e} (rounding allowance {:.3e})",
                w.input,
                w.index,
                w.analytic,
                w.numeric,
                (w.analytic - w.numeric).abs(),
                self.worst_ratio,
                self.tolerance,
                self.fd_rounding
            )?;
        }
        Ok(())
    }
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        index[i] = flat % d.max(1);
        flat /= d.max(1);
    }
    index
}

impl GradCheck {
    /// Checks every input's gradient of `f` at `inputs`.
    ///
    /// For every element `x_j` of every input, `f` is evaluated at `x_j ± ε` (on tapes that
    /// record nothing) and the numeric gradient `Σ_k r_k (y⁺_k - y⁻_k) / 2ε` is compared
    /// with the tape's `∂(Σ r ⊙ y)/∂x_j`; the element passes when they differ by at most
    /// `atol + rtol · |numeric| + fd_rounding`, with the rounding allowance `fd_rounding`
    /// of [`GradCheck`]'s documentation. The report names the worst element, the tolerance
    /// it was held to and the largest allowance used.
    ///
    /// Fails if `f` fails, if its output at `inputs` is not finite, or if its output changes
    /// shape under a perturbation.
    ///
    /// ```
    /// use autograd::{GradCheck, Tensor};
    /// let x = Tensor::<f64>::from_vec(vec![0.3, -1.2, 2.0], &[3]).unwrap();
    /// let report = GradCheck::default()
    ///     .run(&[x], |v| Ok(v[0].tanh().mul_scalar(3.0)))
    ///     .unwrap();
    /// assert!(report.passed, "{report}");
    /// assert!(report.worst_ratio <= 1.0);
    /// ```
    ///
    /// A product with a thousand outputs of magnitude ~500 passes, though its finite
    /// differences carry rounding errors of ~1e-6, a hundred times `atol` (the allowance
    /// follows them); the same product with its gradient scaled by `1 + 1e-4` does not:
    ///
    /// ```
    /// use autograd::{GradCheck, Tensor};
    /// use rand::{SeedableRng, rngs::StdRng};
    /// let mut rng = StdRng::seed_from_u64(7);
    /// let a = Tensor::<f64>::randn(&[40, 30], &mut rng).mul_scalar(10.0);
    /// let b = Tensor::<f64>::randn(&[30, 25], &mut rng).mul_scalar(10.0);
    /// let check = GradCheck::default();
    /// let report = check.run(&[a.clone(), b.clone()], |v| v[0].matmul(&v[1])).unwrap();
    /// assert!(report.passed, "{report}");
    /// assert!(report.max_fd_rounding > check.atol, "{report}");
    /// // y + 1e-4 · (y - stop_gradient(y)): the same value, 1 + 1e-4 times the gradient.
    /// let wrong = check
    ///     .run(&[a, b], |v| {
    ///         let y = v[0].matmul(&v[1])?;
    ///         y.try_add(&y.try_sub(&y.detach())?.mul_scalar(1e-4))
    ///     })
    ///     .unwrap();
    /// assert!(!wrong.passed && wrong.worst_ratio > 10.0, "{wrong}");
    /// ```
    pub fn run<F>(&self, inputs: &[Tensor<f64>], f: F) -> Result<GradCheckReport>
    where
        F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
    {
        self.run_keeping(inputs, f, MOVED_BUDGET)
    }

    /// [`GradCheck::run`], keeping at most `budget` moved-output indices between the passes.
    fn run_keeping<F>(&self, inputs: &[Tensor<f64>], f: F, budget: usize) -> Result<GradCheckReport>
    where
        F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
    {
        // Analytic: one backward pass of Σ r ⊙ y.
        let tape = Tape::<f64>::new();
        let vars: Vec<Var<'_, f64>> = inputs.iter().map(|x| tape.var(x.clone())).collect();
        let y = f(&vars)?;
        if y.value().as_slice().iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "gradcheck",
                y.shape(),
                "the function's output is not finite",
            ));
        }
        let mut rng = StdRng::seed_from_u64(self.seed);
        let r = Tensor::<f64>::randn(y.shape(), &mut rng);
        let grads = tape.backward_with(&y, r.clone())?;
        let analytic: Vec<Tensor<f64>> = vars.iter().map(|v| grads[v].clone()).collect();

        // Numeric: f's outputs at x ± ε, on tapes that record nothing.
        let eval = |xs: &[Tensor<f64>]| -> Result<Tensor<f64>> {
            let tape = Tape::<f64>::no_grad();
            let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
            let y = f(&vars)?;
            if y.shape() != r.shape() {
                return Err(Error::shapes(
                    "gradcheck",
                    y.shape(),
                    r.shape(),
                    "the function's output changed shape",
                ));
            }
            Ok(y.value().clone())
        };
        // f at x_ik + ε and at x_ik - ε, element k of input i restored afterwards.
        let eval_pair = |xs: &mut [Tensor<f64>], i: usize, k: usize| -> Result<(Tensor<f64>, Tensor<f64>)> {
            let orig = xs[i].as_slice()[k];
            xs[i].as_mut_slice()[k] = orig + self.eps;
            let plus = eval(xs);
            xs[i].as_mut_slice()[k] = orig - self.eps;
            let minus = eval(xs);
            xs[i].as_mut_slice()[k] = orig;
            Ok((plus?, minus?))
        };
        let n_out = r.numel();
        let two_eps = 2.0 * self.eps;
        // C_k = Σ_j |x_j| · |∂y_k/∂x_j|, accumulated from the finite differences themselves,
        // and the outputs each element moved (to weigh them with C once it is complete).
        let mut cond = vec![0.0f64; n_out];
        let mut moved: Option<Vec<u32>> = u32::try_from(n_out).ok().map(|_| Vec::new());
        let mut elements = Vec::new();
        let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
        for i in 0..xs.len() {
            for k in 0..xs[i].numel() {
                let orig = xs[i].as_slice()[k];
                let (plus, minus) = eval_pair(&mut xs, i, k)?;
                let start = moved.as_ref().map_or(0, Vec::len);
                let mut d = Difference::default();
                for_moved(&plus, &minus, |o, p, m| {
                    let (rk, dy) = (r.as_slice()[o], p - m);
                    let term = rk * dy;
                    d.sum += term;
                    d.terms += term.abs();
                    d.size += rk.abs() * p.abs().max(m.abs());
                    d.moved += 1;
                    if dy.is_finite() {
                        cond[o] += orig.abs() * dy.abs() / two_eps;
                    }
                    if let Some(v) = &mut moved {
                        v.push(o as u32);
                    }
                });
                if moved.as_ref().is_some_and(|v| v.len() > budget) {
                    moved = None; // recomputed below instead
                }
                elements.push((i, k, start, d));
            }
        }

        let mut report = GradCheckReport {
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            worst: None,
            checked: 0,
            passed: true,
            worst_ratio: 0.0,
            tolerance: 0.0,
            fd_rounding: 0.0,
            max_fd_rounding: 0.0,
        };
        let mut worst_ratio = -1.0;
        let weight = |o: usize| r.as_slice()[o].abs() * cond[o];
        for (i, k, start, d) in elements {
            let conditioned: f64 = match &moved {
                Some(v) => v[start..start + d.moved]
                    .iter()
                    .map(|&o| weight(o as usize))
                    .sum(),
                None => {
                    let (plus, minus) = eval_pair(&mut xs, i, k)?;
                    let mut c = 0.0;
                    for_moved(&plus, &minus, |o, _, _| c += weight(o));
                    c
                }
            };
            let numeric = d.sum / two_eps;
            let fd_rounding = f64::EPSILON / self.eps
                * (self.rounding_factor * (d.size + conditioned) + (d.moved + 2) as f64 / 2.0 * d.terms);
            let a = analytic[i].as_slice()[k];
            let err = (a - numeric).abs();
            let scale = a.abs().max(numeric.abs());
            report.max_abs_error = report.max_abs_error.max(err);
            if scale > self.atol {
                report.max_rel_error = report.max_rel_error.max(err / scale);
            }
            report.max_fd_rounding = report.max_fd_rounding.max(fd_rounding);
            let allowed = self.atol + self.rtol * numeric.abs() + fd_rounding;
            // NaN never compares as within tolerance.
            let within = err <= allowed;
            report.passed &= within;
            let ratio = match err / allowed {
                _ if err == 0.0 => 0.0,
                q if q.is_nan() => f64::INFINITY,
                q => q,
            };
            if ratio > worst_ratio {
                worst_ratio = ratio;
                report.worst_ratio = ratio;
                report.tolerance = allowed;
                report.fd_rounding = fd_rounding;
                report.worst = Some(ElementCheck {
                    input: i,
                    index: unravel(k, xs[i].shape()),
                    analytic: a,
                    numeric,
                });
            }
            report.checked += 1;
        }
        debug_assert_eq!(
            report.checked,
            inputs.iter().map(|x| shape::numel(x.shape())).sum::<usize>()
        );
        Ok(report)
    }
}

/// How many moved-output indices [`GradCheck::run`] keeps (64 MiB) before it recomputes
/// them instead.
const MOVED_BUDGET: usize = 1 << 24;

/// One element's sums over the outputs it moved: `Σ r_k Δy_k`, `T = Σ |r_k Δy_k|`,
/// `S = Σ |r_k| max|y^±_k|`, and how many there were.
#[derive(Default)]
struct Difference {
    sum: f64,
    terms: f64,
    size: f64,
    moved: usize,
}

/// Calls `each(k, y⁺_k, y⁻_k)` for every output that moved. One that did not adds exactly
/// nothing to the difference; a non-finite one (inf - inf is NaN) must still poison it.
fn for_moved(plus: &Tensor<f64>, minus: &Tensor<f64>, mut each: impl FnMut(usize, f64, f64)) {
    for (o, (&p, &m)) in plus.as_slice().iter().zip(minus.as_slice()).enumerate() {
        if p != m || !p.is_finite() {
            each(o, p, m);
        }
    }
}

/// Returns `f` unchanged, typed as a function of tape variables. A closure stored in a `let`
/// before it is passed to [`GradCheck::run`] needs this to be seen as working for every
/// tape lifetime (Rust infers that only for closures written at the call site).
///
/// ```
/// use autograd::{gradcheck, gradcheck::tape_fn, Tensor};
/// let f = tape_fn(|v| Ok(v[0].exp().sum()));
/// let x = Tensor::<f64>::from_vec(vec![0.1, 0.2], &[2]).unwrap();
/// assert!(gradcheck(&[x.clone()], f).unwrap().passed);
/// assert!(gradcheck(&[x], f).unwrap().passed); // reusable
/// ```
pub fn tape_fn<T: Element, F>(f: F) -> F
where
    F: for<'t> Fn(&[Var<'t, T>]) -> Result<Var<'t, T>>,
{
    f
}

/// [`GradCheck::run`] with the default options.
pub fn gradcheck<F>(inputs: &[Tensor<f64>], f: F) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    GradCheck::default().run(inputs, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the index budget the moved outputs are recomputed: the same report.
    #[test]
    fn recomputing_the_moved_outputs_gives_the_same_report() {
        let a = Tensor::<f64>::from_fn(&[3, 4], |i| (i as f64 * 0.37).sin() * 5.0);
        let b = Tensor::<f64>::from_fn(&[4, 2], |i| (i as f64 * 0.71).cos() * 5.0);
        let f = tape_fn(|v: &[Var<'_, f64>]| Ok(v[0].matmul(&v[1])?.tanh()));
        let check = GradCheck::default();
        let kept = check
            .run_keeping(&[a.clone(), b.clone()], f, MOVED_BUDGET)
            .unwrap();
        let recomputed = check.run_keeping(&[a, b], f, 0).unwrap();
        assert!(kept.passed && kept.max_fd_rounding > 0.0, "{kept}");
        assert_eq!(kept.to_string(), recomputed.to_string());
        assert_eq!(kept.worst, recomputed.worst);
        assert_eq!(kept.max_fd_rounding, recomputed.max_fd_rounding);
    }
}
