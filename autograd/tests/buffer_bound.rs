//! The buffer pool holds no growing state: buffers allocated outside it (a `Vec` handed to
//! `Tensor::from_vec`) are freed when their tensor dies unless a taken buffer of their length
//! is owed, so a loop that makes one such tensor per iteration keeps the pool's size flat
//! (issue #14: evaluation's cross-entropy did, +0.4 MiB per epoch). One test function, so
//! nothing else in this binary touches the pool meanwhile.

use autograd::Tensor;
use autograd::runtime::buffer;

#[test]
fn foreign_buffers_do_not_grow_the_pool() {
    const N: usize = 10_000; // 40 KB of f32: pooled
    buffer::clear::<f32>();
    // Each iteration: one tensor from the pool, one from a plain Vec, both dropped.
    for _ in 0..50 {
        let pooled = Tensor::<f32>::zeros(&[N]);
        let foreign = Tensor::from_vec(vec![1.0f32; N], &[N]).unwrap();
        drop((pooled, foreign));
    }
    // What the loop needs at once: one buffer of N (the pooled tensor's), not 50 or 51.
    assert_eq!(buffer::held_bytes::<f32>(), N * 4);
    // Taken buffers still come back: two out at once, two kept.
    let (a, b) = (Tensor::<f32>::zeros(&[N]), Tensor::<f32>::zeros(&[N]));
    drop((a, b));
    assert_eq!(buffer::held_bytes::<f32>(), 2 * N * 4);
    // A foreign buffer of a length never taken is not kept.
    drop(Tensor::from_vec(vec![0.0f32; 2 * N], &[2 * N]).unwrap());
    assert_eq!(buffer::held_bytes::<f32>(), 2 * N * 4);
}
