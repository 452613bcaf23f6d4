//! The public custom-op API, used from outside the crate as a user would.

use autograd::{CustomOp, GradCheck, Result, Saved, Tape, Tensor};

/// `y = ln(1 + eˣ)`, with `dy/dx = σ(x)`; `WRONG` scales the backward by 1.01.
struct Softplus<const WRONG: bool>;

impl<const WRONG: bool> CustomOp<f64> for Softplus<WRONG> {
    fn name(&self) -> &str {
        "softplus"
    }
    fn forward(&mut self, inputs: &[&Tensor<f64>], saved: &mut Saved<f64>) -> Result<Tensor<f64>> {
        saved.save(inputs[0].clone());
        Ok(inputs[0].map(|x| x.max(0.0) + (-x.abs()).exp().ln_1p()))
    }
    fn backward(&self, saved: &Saved<f64>, dy: &Tensor<f64>, _: &[bool]) -> Result<Vec<Option<Tensor<f64>>>> {
        let k = if WRONG { 1.01 } else { 1.0 };
        let dx = saved
            .get(0)
            .zip_with(dy, "softplus", |x, g| k * g / (1.0 + (-x).exp()))?;
        Ok(vec![Some(dx)])
    }
}

fn input() -> Tensor<f64> {
    Tensor::from_vec(vec![-2.0, -0.3, 0.0, 0.7, 3.0], &[5]).unwrap()
}

#[test]
fn a_correct_custom_op_passes_the_checker() {
    let r = GradCheck::default()
        .run(&[input()], |v| v[0].tape().apply(Softplus::<false>, &[&v[0]]))
        .unwrap();
    assert!(r.passed, "{r}");
    assert!(r.max_rel_error < 1e-7, "{r}");
}

#[test]
fn a_wrong_backward_is_caught_by_the_checker() {
    let r = GradCheck::default()
        .run(&[input()], |v| v[0].tape().apply(Softplus::<true>, &[&v[0]]))
        .unwrap();
    assert!(!r.passed, "a 1% error must fail the check: {r}");
    let worst = r.worst.clone().expect("the report names the worst element");
    assert_eq!(worst.input, 0);
    assert!((worst.analytic / worst.numeric - 1.01).abs() < 1e-6, "{worst:?}");
    assert!(r.max_rel_error > 0.009 && r.max_rel_error < 0.011, "{r}");
}

/// Returns a gradient of the wrong shape.
struct BadShape;

impl CustomOp<f64> for BadShape {
    fn name(&self) -> &str {
        "bad_shape"
    }
    fn forward(&mut self, inputs: &[&Tensor<f64>], _: &mut Saved<f64>) -> Result<Tensor<f64>> {
        Ok(inputs[0].clone())
    }
    fn backward(&self, _: &Saved<f64>, _: &Tensor<f64>, _: &[bool]) -> Result<Vec<Option<Tensor<f64>>>> {
        Ok(vec![Some(Tensor::zeros(&[1]))])
    }
}

#[test]
fn a_gradient_of_the_wrong_shape_is_an_error_naming_the_op() {
    let tape = Tape::<f64>::new();
    let x = tape.var(input());
    let y = tape.apply(BadShape, &[&x]).unwrap();
    let e = tape.backward(&y.sum()).err().unwrap().to_string();
    assert!(
        e.contains("bad_shape") && e.contains("[1]") && e.contains("[5]"),
        "{e}"
    );
}

/// Records which inputs it was told need a gradient.
struct Spy(std::rc::Rc<std::cell::RefCell<Vec<bool>>>);

impl CustomOp<f64> for Spy {
    fn name(&self) -> &str {
        "spy"
    }
    fn forward(&mut self, inputs: &[&Tensor<f64>], _: &mut Saved<f64>) -> Result<Tensor<f64>> {
        inputs[0].try_add(inputs[1])
    }
    fn backward(&self, _: &Saved<f64>, dy: &Tensor<f64>, needs: &[bool]) -> Result<Vec<Option<Tensor<f64>>>> {
        *self.0.borrow_mut() = needs.to_vec();
        Ok(needs.iter().map(|&n| n.then(|| dy.clone())).collect())
    }
}

#[test]
fn backward_is_told_which_inputs_need_gradients() {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let tape = Tape::<f64>::new();
    let x = tape.var(input());
    let c = tape.constant(input());
    let y = tape.apply(Spy(seen.clone()), &[&c, &x]).unwrap();
    let g = tape.backward(&y.sum()).unwrap();
    assert_eq!(*seen.borrow(), vec![false, true]);
    assert_eq!(g[&x].to_vec(), vec![1.0; 5]);
}
