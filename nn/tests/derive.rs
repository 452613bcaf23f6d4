//! `#[derive(Module)]`: the parameters, modes and errors of derived composite models, checked
//! against the same network written as a `Sequential` and by hand.

use autograd::{Element, Param, Result, Tape, Tensor, Var};
use nn::Module;
use nn::layers::{Dense, Dropout, Module as _, ReLU, Sequential};
use nn::train::checkpoint;
use rand::SeedableRng;

#[derive(Module)]
struct Block<T: Element> {
    #[module]
    fc: Dense<T>,
    #[module]
    drop: Dropout,
}

impl<T: Element> Block<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let h = self.fc.forward_named("fc", x)?.relu();
        self.drop.forward_named("drop", &h)
    }
}

#[derive(Module)]
#[module(forward = run)]
struct Net<T: Element> {
    #[module]
    block: Block<T>,
    #[module]
    head: Sequential<T>,
    #[param]
    gain: Param<T>,
    calls: std::sync::atomic::AtomicUsize,
}

impl<T: Element> Net<T> {
    fn run<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let h = self.block.forward_named("block", x)?;
        let y = self.head.forward_named("head", &h)?;
        y.try_mul(&x.tape().param(&self.gain))
    }
}

/// A model with no element type parameter: `Module<f32>`.
#[derive(Module)]
struct Plain {
    #[module]
    fc: Dense<f32>,
}

impl Plain {
    fn forward<'t>(&self, x: &Var<'t, f32>) -> Result<Var<'t, f32>> {
        self.fc.forward_named("fc", x)
    }
}

fn net(seed: u64, hidden_in: usize) -> Net<f64> {
    let r = &mut rand::rngs::StdRng::seed_from_u64(seed);
    Net {
        block: Block {
            fc: Dense::new(4, 6, r),
            drop: Dropout::new(0.5, 3).unwrap(),
        },
        head: Sequential::new()
            .add("fc1", Dense::new(hidden_in, 5, r))
            .add("relu", ReLU)
            .add("fc2", Dense::new(5, 2, r)),
        gain: Param::new(Tensor::from_vec(vec![1.5], &[1]).unwrap()),
        calls: Default::default(),
    }
}

fn x() -> Tensor<f64> {
    Tensor::from_fn(&[3, 4], |i| (i as f64 * 0.37).sin())
}

#[test]
fn parameters_are_named_by_field_and_in_order() {
    let n = net(1, 6);
    let names: Vec<String> = n.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "gain",
            "block.fc.w",
            "block.fc.b",
            "head.fc1.w",
            "head.fc1.b",
            "head.fc2.w",
            "head.fc2.b"
        ]
    );
    let mut n = n;
    let mut_names: Vec<String> = n.parameters_mut().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, mut_names);
    let plain = Plain {
        fc: Dense::new(2, 3, &mut rand::rngs::StdRng::seed_from_u64(0)),
    };
    let p: Vec<String> = nn::layers::Module::<f32>::parameters(&plain)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(p, ["fc.w", "fc.b"]);
}

#[test]
fn the_mode_reaches_nested_children_and_forward_is_the_named_method() {
    let mut n = net(1, 6);
    assert!(n.is_training(), "the dropout starts in training mode");
    n.set_training(false);
    assert!(!n.is_training());
    // In evaluation mode the network is, by hand: gain · fc2(relu(fc1(relu(fc(x))))).
    let tape = Tape::no_grad();
    let xv = tape.constant(x());
    let y = n.forward(&xv).unwrap();
    assert_eq!(n.calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    let h = n.block.fc.forward(&xv).unwrap().relu();
    let want = n.head.forward(&h).unwrap().mul_scalar(1.5);
    assert_eq!(y.value().to_vec(), want.value().to_vec());
}

#[test]
fn gradients_reach_every_parameter_and_match_the_hand_written_network() {
    let mut n = net(2, 6);
    n.set_training(false);
    let tape = Tape::new();
    let loss = n.forward(&tape.constant(x())).unwrap().sum();
    let grads = tape.backward(&loss).unwrap();
    for (name, p) in n.parameters() {
        assert!(grads.param(p).is_some(), "{name} got no gradient");
    }
    // d loss / d gain = Σ (network output before the gain).
    let tape2 = Tape::no_grad();
    let h = n.block.fc.forward(&tape2.constant(x())).unwrap().relu();
    let before: f64 = n.head.forward(&h).unwrap().value().as_slice().iter().sum();
    let g = grads.param(&n.gain).unwrap().as_slice()[0];
    assert!((g - before).abs() < 1e-12, "{g} vs {before}");
}

#[test]
fn a_child_error_names_its_path() {
    let n = net(1, 7); // head.fc1 expects 7 inputs, block gives 6
    let tape = Tape::no_grad();
    let msg = n.forward(&tape.constant(x())).unwrap_err().to_string();
    assert!(msg.starts_with("head.fc1 (Dense): "), "{msg}");
}

#[test]
fn a_derived_model_checkpoints_and_restores() {
    let a = net(1, 6);
    let path = std::env::temp_dir().join(format!("tapegrad-derive-{}.safetensors", std::process::id()));
    checkpoint::save(&path, &a, None, &[]).unwrap();
    let mut b = net(9, 6);
    checkpoint::load::<f64>(&path)
        .unwrap()
        .restore_model(&mut b)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    for ((na, pa), (_, pb)) in a.parameters().iter().zip(b.parameters()) {
        assert_eq!(pa.value().to_vec(), pb.value().to_vec(), "{na}");
    }
}

#[derive(Module)]
struct WithNorm<T: Element> {
    #[module]
    fc: Dense<T>,
    #[module]
    bn: nn::layers::BatchNorm1d<T>,
}

impl<T: Element> WithNorm<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let h = self.fc.forward_named("fc", x)?;
        self.bn.forward_named("bn", &h)
    }
}

#[test]
fn buffers_of_children_are_forwarded_by_name() {
    let mut m = WithNorm::<f64> {
        fc: Dense::new(4, 3, &mut rand::rngs::StdRng::seed_from_u64(5)),
        bn: nn::layers::BatchNorm1d::new(3),
    };
    let child: Vec<String> =
        m.bn.buffers()
            .into_iter()
            .map(|(n, _)| format!("bn.{n}"))
            .collect();
    let ours: Vec<String> = m.buffers().into_iter().map(|(n, _)| n).collect();
    assert!(!child.is_empty());
    assert_eq!(ours, child);
    // A training step moves the running mean, and the derived model shows it.
    let tape = Tape::new();
    let _ = m.forward(&tape.constant(x())).unwrap();
    drop(tape);
    let mean = m
        .buffers_mut()
        .into_iter()
        .find(|(n, _)| n == "bn.running_mean")
        .unwrap()
        .1
        .clone();
    assert!(mean.as_slice().iter().any(|&v| v != 0.0), "{mean:?}");
}
