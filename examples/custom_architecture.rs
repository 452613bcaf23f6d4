//! The code of `docs/custom_architecture.md`: a model that is not a stack (a struct
//! implementing `Module`), a custom op with its own backward rule (a per-channel scale),
//! checked with `GradCheck` and against a composite version, then trained for a few steps
//! and checkpointed with its batch-norm statistics.
//!
//! Run with `cargo run --release --example custom_architecture`.

use rand::SeedableRng;
use tapegrad::autograd::gradcheck::tape_fn;
use tapegrad::autograd::runtime::buffer;
use tapegrad::autograd::{CustomOp, Element, Error, GradCheck, Param, Result, Saved, Tape, Tensor, Var};
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::synthetic;
use tapegrad::nn::layers::{BatchNorm2d, Conv2d, Dense, GlobalAvgPool2d, Module, Residual};
use tapegrad::nn::ops::activation::Activation;
use tapegrad::nn::ops::conv::Conv2dConfig;
use tapegrad::nn::train::optim::{Optimizer, Sgd};
use tapegrad::nn::train::{checkpoint, evaluate, train_step};

/// `y[.., c] = s_c · x[.., c]`: backward `dx = s_c · dy`, `ds_c = Σ dy · x` over the positions.
struct ChannelScale;

impl<T: Element> CustomOp<T> for ChannelScale {
    fn name(&self) -> &str {
        "channel_scale"
    }

    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let (x, s) = (inputs[0], inputs[1]);
        let c = *x.shape().last().unwrap_or(&0);
        if s.shape() != [c] {
            return Err(Error::shapes(
                "channel_scale",
                x.shape(),
                s.shape(),
                "the scale must be [C]",
            ));
        }
        let mut y = buffer::take_dirty::<T>(x.numel());
        for (out, row) in y.chunks_exact_mut(c).zip(x.as_slice().chunks_exact(c)) {
            for ((o, &v), &k) in out.iter_mut().zip(row).zip(s.as_slice()) {
                *o = v * k;
            }
        }
        saved.save(x.clone());
        saved.save(s.clone());
        Tensor::from_vec(y, x.shape())
    }

    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let (x, s) = (saved.get(0), saved.get(1));
        let c = s.numel();
        let mut dx = buffer::take_dirty::<T>(x.numel());
        let mut ds = vec![T::ZERO; c];
        let rows = dy.as_slice().chunks_exact(c).zip(x.as_slice().chunks_exact(c));
        for (out, (g, xr)) in dx.chunks_exact_mut(c).zip(rows) {
            for ch in 0..c {
                out[ch] = s.as_slice()[ch] * g[ch];
                ds[ch] += g[ch] * xr[ch];
            }
        }
        Ok(vec![
            needs[0].then(|| Tensor::from_vec(dx, x.shape())).transpose()?,
            needs[1].then(|| Tensor::from_vec(ds, &[c])).transpose()?,
        ])
    }
}

fn channel_scale<'t, T: Element>(x: &Var<'t, T>, s: &Var<'t, T>) -> Result<Var<'t, T>> {
    Var::apply(ChannelScale, &[x, s])
}

/// Named mutable borrows of a model's layers.
type Children<'a, T> = Vec<(String, &'a mut dyn Module<T>)>;

/// A model that is not a stack: a stem, two residual blocks, and a learned per-channel gate
/// on the features before pooling, written as plain Rust.
struct GatedResNet<T: Element = f32> {
    stem: Conv2d<T>,
    stem_bn: BatchNorm2d<T>,
    blocks: Vec<Residual<T>>,
    gate: Param<T>,
    fc: Dense<T>,
}

impl<T: Element> GatedResNet<T> {
    fn new(rng: &mut rand::rngs::StdRng) -> Self {
        let mut stem = Conv2d::new(1, 8, (3, 3), Conv2dConfig::new().padding(1), rng);
        stem.b = None; // the batch norm's beta is the bias
        GatedResNet {
            stem,
            stem_bn: BatchNorm2d::new(8).with_activation(Activation::Relu),
            blocks: vec![Residual::new(8, 8, 1, rng), Residual::new(8, 16, 2, rng)],
            gate: Param::new(Tensor::ones(&[16])),
            fc: Dense::new(16, 10, rng),
        }
    }

    /// The layers under their names; parameters and buffers are prefixed with them.
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        let mut v: Vec<(String, &dyn Module<T>)> =
            vec![("stem".into(), &self.stem), ("stem_bn".into(), &self.stem_bn)];
        v.extend(
            self.blocks
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("block{i}"), b as &dyn Module<T>)),
        );
        v.push(("fc".into(), &self.fc));
        v
    }

    /// The layers, mutably, and the gate beside them (disjoint borrows of the fields).
    fn children_mut(&mut self) -> (Children<'_, T>, &mut Param<T>) {
        let GatedResNet {
            stem,
            stem_bn,
            blocks,
            gate,
            fc,
        } = self;
        let mut v: Vec<(String, &mut dyn Module<T>)> =
            vec![("stem".into(), stem), ("stem_bn".into(), stem_bn)];
        for (i, b) in blocks.iter_mut().enumerate() {
            v.push((format!("block{i}"), b));
        }
        v.push(("fc".into(), fc));
        (v, gate)
    }
}

impl<T: Element> Module<T> for GatedResNet<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let mut h = self.stem_bn.forward(&self.stem.forward(x)?)?;
        for block in &self.blocks {
            h = block.forward(&h)?;
        }
        let gated = channel_scale(&h, &x.tape().param(&self.gate))?;
        self.fc.forward(&GlobalAvgPool2d.forward(&gated)?)
    }

    fn parameters(&self) -> Vec<(String, &Param<T>)> {
        let mut v: Vec<(String, &Param<T>)> = self
            .children()
            .into_iter()
            .flat_map(|(p, c)| {
                c.parameters()
                    .into_iter()
                    .map(move |(n, x)| (format!("{p}.{n}"), x))
            })
            .collect();
        v.push(("gate".into(), &self.gate));
        v
    }

    fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        let (children, gate) = self.children_mut();
        let mut v: Vec<(String, &mut Param<T>)> = Vec::new();
        for (p, c) in children {
            v.extend(
                c.parameters_mut()
                    .into_iter()
                    .map(|(n, x)| (format!("{p}.{n}"), x)),
            );
        }
        v.push(("gate".into(), gate));
        v
    }

    fn buffers(&self) -> Vec<(String, &Tensor<T>)> {
        self.children()
            .into_iter()
            .flat_map(|(p, c)| c.buffers().into_iter().map(move |(n, x)| (format!("{p}.{n}"), x)))
            .collect()
    }

    fn buffers_mut(&mut self) -> Vec<(String, &mut Tensor<T>)> {
        let mut v = Vec::new();
        for (p, c) in self.children_mut().0 {
            v.extend(c.buffers_mut().into_iter().map(|(n, x)| (format!("{p}.{n}"), x)));
        }
        v
    }

    fn set_training(&mut self, training: bool) {
        self.children_mut()
            .0
            .into_iter()
            .for_each(|(_, c)| c.set_training(training));
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // 1. The op's rule against finite differences, in f64.
    let x = Tensor::<f64>::from_fn(&[2, 3, 3, 4], |i| (i as f64 * 0.37).sin());
    let s = Tensor::from_vec(vec![0.5, -1.0, 2.0, 1.5], &[4])?;
    let op = tape_fn(|v| channel_scale(&v[0], &v[1]));
    let report = GradCheck::default().run(&[x.clone(), s.clone()], op)?;
    println!("GradCheck channel_scale: {report}");
    assert!(report.passed);

    // 2. The same gradients as the composite version (a broadcasting multiply).
    let gradients = |hand: bool| -> Result<Vec<f64>> {
        let tape = Tape::new();
        let (xv, sv) = (tape.var(x.clone()), tape.var(s.clone()));
        let y = if hand {
            channel_scale(&xv, &sv)?
        } else {
            xv.try_mul(&sv)?
        };
        let g = tape.backward(&y.powf(2.0).sum())?;
        Ok([g[&xv].to_vec(), g[&sv].to_vec()].concat())
    };
    let (hand, composite) = (gradients(true)?, gradients(false)?);
    for (a, b) in hand.iter().zip(&composite) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()));
    }
    println!("hand rule = composite autodiff: {} gradients agree", hand.len());

    // 3. Train the model a little, evaluate with running statistics, checkpoint it.
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut model = GatedResNet::<f32>::new(&mut rng);
    let (train, test) = synthetic::train_test_split(2048, 256, 1);
    // Batch norm's running statistics lag behind fast-moving weights: decay the rate to 0.
    let mut sgd = Sgd::new(0.05).momentum(0.9).nesterov(true);
    let mut step = 0;
    for epoch in 0..3 {
        let mut loss = 0.0;
        for batch in Batches::<f32>::new(&train, 32, Normalize::MNIST)?.shuffled(1, epoch) {
            sgd.set_learning_rate(0.05 * (1.0 - step as f64 / 192.0));
            step += 1;
            loss += train_step(&mut model, &mut sgd, &batch)? / 64.0; // 64 steps an epoch
        }
        println!("epoch {}: mean training loss {loss:.4}", epoch + 1);
    }
    let eval = evaluate(&mut model, &test, 256, Normalize::MNIST, 10)?;
    println!(
        "after 3 epochs of 2048 digits: test accuracy {:.1}%",
        100.0 * eval.accuracy
    );
    let path = std::env::temp_dir().join("custom_architecture.safetensors");
    checkpoint::save(&path, &model, None, &[])?;
    let mut fresh = GatedResNet::<f32>::new(&mut rand::rngs::StdRng::seed_from_u64(2));
    checkpoint::load::<f32>(&path)?.restore_model(&mut fresh)?;
    assert_eq!(
        evaluate(&mut fresh, &test, 256, Normalize::MNIST, 10)?.accuracy,
        eval.accuracy
    );
    println!(
        "restored from {} with {} buffers: the same accuracy",
        path.display(),
        fresh.buffers().len()
    );
    std::fs::remove_file(&path)?;
    Ok(())
}
