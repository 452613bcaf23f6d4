//! The nn kernels take buffers from the pool, where freed buffers keep old contents: a
//! LeNet-5 step must give the same numbers whether its buffers are fresh or reused buffers
//! filled with NaN. One test function, so nothing else in this binary touches the pool.

use autograd::runtime::buffer;
use autograd::{Tape, Tensor};
use nn::layers::{Module, Sequential};
use nn::models::lenet5;
use nn::ops::loss::{Reduction, softmax_cross_entropy};
use rand::SeedableRng;

fn step(model: &Sequential<f32>, x: &Tensor<f32>, labels: &[usize]) -> Vec<Tensor<f32>> {
    let tape = Tape::new();
    let logits = model.forward(&tape.constant(x.clone())).unwrap();
    let loss = softmax_cross_entropy(&logits, labels, Reduction::Mean).unwrap();
    let grads = tape.backward(&loss).unwrap();
    let mut out = vec![logits.value().clone(), loss.value().clone()];
    out.extend(model.parameters().into_iter().map(|(_, p)| grads[p].clone()));
    out
}

#[test]
fn a_lenet_step_does_not_read_reused_buffers() {
    let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(4));
    let x = Tensor::from_fn(&[32, 28, 28, 1], |i| ((i * 7919) % 255) as f32 / 255.0 - 0.3);
    let labels: Vec<usize> = (0..32).map(|i| i % 10).collect();
    buffer::set_limit(0);
    buffer::clear::<f32>();
    let clean = step(&model, &x, &labels);
    buffer::set_limit(1 << 30);
    let _ = step(&model, &x, &labels); // fills the pool with buffers of every size a step uses
    for _ in 0..3 {
        assert!(buffer::held_bytes::<f32>() > 0);
        buffer::fill_held(f32::NAN);
        let reused = step(&model, &x, &labels);
        for (i, (c, r)) in clean.iter().zip(&reused).enumerate() {
            assert_eq!(c, r, "output {i} differs when computed in reused buffers");
        }
    }
}
