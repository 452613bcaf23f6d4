//! Gradient checking: the tape's gradients against central finite differences in `f64`, what
//! `torch.autograd.gradcheck` does.
//!
//! For a function `y = f(x_1, .., x_n)` of tape variables, the check draws a fixed random
//! tensor `r` of `y`'s shape (seeded) and compares, for every element of every input, the
//! tape's vector-Jacobian product `∂(Σ r ⊙ y)/∂x` with the central difference
//! `(L(x + ε) - L(x - ε)) / 2ε` where `L = Σ r ⊙ f(..)`. An element passes when
//! `|analytic - numeric| <= atol + rtol · |numeric|`.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::shape;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Options of a gradient check.
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// The finite-difference step ε (default `1e-6`).
    pub eps: f64,
    /// Absolute tolerance (default `1e-8`).
    pub atol: f64,
    /// Relative tolerance (default `1e-6`).
    pub rtol: f64,
    /// Seed of the projection tensor `r` (default 0).
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            eps: 1e-6,
            atol: 1e-8,
            rtol: 1e-6,
            seed: 0,
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
    /// Whether every element is within `atol + rtol · |numeric|`.
    pub passed: bool,
}

impl std::fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gradcheck {}: {} elements, max abs error {:.3e}, max rel error {:.3e}",
            if self.passed { "passed" } else { "FAILED" },
            self.checked,
            self.max_abs_error,
            self.max_rel_error
        )?;
        if let Some(w) = &self.worst {
            write!(
                f,
                "; worst: input {} at {:?}: analytic {:.9e}, numeric {:.9e}",
                w.input, w.index, w.analytic, w.numeric
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
    /// ```
    /// use autograd::{GradCheck, Tensor};
    /// let x = Tensor::<f64>::from_vec(vec![0.3, -1.2, 2.0], &[3]).unwrap();
    /// let report = GradCheck::default()
    ///     .run(&[x], |v| Ok(v[0].tanh().mul_scalar(3.0)))
    ///     .unwrap();
    /// assert!(report.passed, "{report}");
    /// ```
    pub fn run<F>(&self, inputs: &[Tensor<f64>], f: F) -> Result<GradCheckReport>
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

        // Numeric: central differences of L = Σ r ⊙ f(..), on tapes that record nothing.
        let project = |xs: &[Tensor<f64>]| -> Result<f64> {
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
            Ok(y.value()
                .as_slice()
                .iter()
                .zip(r.as_slice())
                .map(|(a, b)| a * b)
                .sum())
        };
        let mut report = GradCheckReport {
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            worst: None,
            checked: 0,
            passed: true,
        };
        let mut worst_ratio = -1.0;
        let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
        for i in 0..xs.len() {
            for k in 0..xs[i].numel() {
                let orig = xs[i].as_slice()[k];
                xs[i].as_mut_slice()[k] = orig + self.eps;
                let plus = project(&xs)?;
                xs[i].as_mut_slice()[k] = orig - self.eps;
                let minus = project(&xs)?;
                xs[i].as_mut_slice()[k] = orig;
                let numeric = (plus - minus) / (2.0 * self.eps);
                let a = analytic[i].as_slice()[k];
                let err = (a - numeric).abs();
                let scale = a.abs().max(numeric.abs());
                report.max_abs_error = report.max_abs_error.max(err);
                if scale > self.atol {
                    report.max_rel_error = report.max_rel_error.max(err / scale);
                }
                let allowed = self.atol + self.rtol * numeric.abs();
                // NaN never compares as within tolerance.
                let within = err <= allowed;
                report.passed &= within;
                let ratio = match err / allowed {
                    q if q.is_nan() => f64::INFINITY,
                    q => q,
                };
                if ratio > worst_ratio {
                    worst_ratio = ratio;
                    report.worst = Some(ElementCheck {
                        input: i,
                        index: unravel(k, xs[i].shape()),
                        analytic: a,
                        numeric,
                    });
                }
                report.checked += 1;
            }
        }
        debug_assert_eq!(
            report.checked,
            inputs.iter().map(|x| shape::numel(x.shape())).sum::<usize>()
        );
        Ok(report)
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
