//! Defining an op outside the crates: softplus, `y = ln(1 + eˣ)`, with its own backward rule
//! `dx = dy · σ(x)`. The example checks the rule with the gradient checker, then uses the op
//! inside a dynamic graph: a recurrence whose number of steps depends on the data.
//!
//! Run with `cargo run --release --example custom_op`.

use tapegrad::autograd::runtime::buffer;
use tapegrad::autograd::{CustomOp, Element, GradCheck, Param, Result, Saved, Tape, Tensor, Var};

/// `y = ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^{-|x|})` so it never overflows.
struct Softplus;

impl<T: Element> CustomOp<T> for Softplus {
    fn name(&self) -> &str {
        "softplus"
    }

    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let x = inputs[0];
        saved.save(x.clone());
        Ok(x.map(|v| v.max(T::ZERO) + (T::ONE + (-v.abs()).exp()).ln()))
    }

    /// `dy/dx = eˣ / (1 + eˣ) = σ(x)`, written as a hand loop to show where a kernel's
    /// buffer comes from: `buffer::take_dirty` hands out a freed buffer of the same length
    /// (this step's is the last step's), where `vec![..]` or `collect()` would ask the
    /// operating system for fresh pages every step (`Tensor::map` and `zip_with`, as in
    /// `forward`, take theirs from the pool too).
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, _needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let x = saved.get(0);
        let mut dx = buffer::take_dirty::<T>(x.numel());
        for ((d, &x), &g) in dx.iter_mut().zip(x.as_slice()).zip(dy.as_slice()) {
            *d = g / (T::ONE + (-x).exp());
        }
        Ok(vec![Some(Tensor::from_vec(dx, x.shape())?)])
    }
}

fn softplus<'t, T: Element>(x: &Var<'t, T>) -> Result<Var<'t, T>> {
    Var::apply(Softplus, &[x])
}

/// `h ← softplus(h·W + x_t)` over the steps of `xs` up to (not including) the first step
/// whose first feature is negative: how long the loop runs depends on the data.
fn recurrence<'t, T: Element>(w: &Var<'t, T>, xs: &[Tensor<T>]) -> Result<(Var<'t, T>, usize)> {
    let tape = w.tape();
    let mut h = tape.constant(Tensor::zeros(&[1, w.shape()[0]]));
    let mut steps = 0;
    for x in xs {
        if x.as_slice()[0] < T::ZERO {
            break;
        }
        h = softplus(&h.matmul(w)?.try_add(&tape.constant(x.clone()))?)?;
        steps += 1;
    }
    Ok((h, steps))
}

fn main() -> Result<()> {
    // 1. The rule against central finite differences in f64.
    let x = Tensor::<f64>::from_vec(vec![-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0], &[7])?;
    let report = GradCheck::default().run(&[x], |v| softplus(&v[0]))?;
    println!("softplus alone: {report}");

    // 2. The same op inside the data-dependent recurrence, checked end to end.
    let seq = |vals: &[[f64; 3]]| -> Vec<Tensor<f64>> {
        vals.iter()
            .map(|v| Tensor::from_vec(v.to_vec(), &[1, 3]).unwrap())
            .collect()
    };
    let xs = seq(&[
        [0.5, -0.2, 0.1],
        [0.3, 0.4, -0.6],
        [0.9, 0.1, 0.2],
        [-1.0, 0.0, 0.0],
        [0.2, 0.2, 0.2],
    ]);
    let w0 = Tensor::from_vec(vec![0.2, -0.1, 0.3, 0.05, 0.4, -0.2, -0.3, 0.1, 0.25], &[3, 3])?;
    let report2 =
        GradCheck::default().run(std::slice::from_ref(&w0), |v| Ok(recurrence(&v[0], &xs)?.0.sum()))?;
    println!("softplus in the recurrence: {report2}");

    // 3. Training through it in f32: sequences of different lengths, a fresh tape per step.
    let xs32: Vec<Vec<Tensor<f32>>> = [
        xs.clone(),
        seq(&[[0.1, 0.2, 0.3], [-0.5, 0.0, 0.0]]),
        seq(&[
            [0.4, -0.4, 0.4],
            [0.2, 0.2, 0.2],
            [0.3, 0.3, -0.3],
            [0.1, 0.0, 0.5],
        ]),
    ]
    .iter()
    .map(|s| s.iter().map(Tensor::cast).collect())
    .collect();
    let target = Tensor::<f32>::from_vec(vec![1.0, 0.5, 1.5], &[1, 3])?;
    let mut w = Param::new(w0.cast::<f32>());
    for epoch in 0..=200 {
        let mut total = 0.0;
        for s in &xs32 {
            let tape = Tape::new();
            let (h, steps) = recurrence(&tape.param(&w), s)?;
            let diff = h.try_sub(&tape.constant(target.clone()))?;
            let loss = (&diff * &diff).mean();
            total += loss.value().item()?;
            let grads = tape.backward(&loss)?;
            let g = &grads[&w];
            for (p, g) in w.value_mut().as_mut_slice().iter_mut().zip(g.as_slice()) {
                *p -= 0.1 * g;
            }
            if epoch == 0 {
                println!("sequence of {} inputs ran {steps} steps", s.len());
            }
        }
        if epoch % 50 == 0 {
            println!("epoch {epoch:3}: mean loss {:.6}", total / xs32.len() as f32);
        }
    }

    let worst = report.max_rel_error.max(report2.max_rel_error);
    println!("gradient checker's worst relative error: {worst:.3e}");
    if !(report.passed && report2.passed) {
        eprintln!("error: the gradient check failed");
        std::process::exit(1);
    }
    Ok(())
}
