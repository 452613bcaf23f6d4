//! # nn: convolutional-network ops and training on top of `autograd`
//!
//! Built only on what `autograd` exports publicly, as a user's crate would be (its kernels
//! use [`autograd::runtime`] for threads, buffers, SIMD and GEMM). The ops are custom ops whose
//! backward rules are the lecture's hand rules (`docs/lecture.md` in the repository states them
//! all, with the notation used here), channels-last
//! throughout: activations `[N, H, W, C]`, kernels `[C_out, f_H, f_W, C_in]`, dense weights
//! `[In, Out]`.
//!
//! | module | what |
//! |---|---|
//! | [`ops`] | the differentiable ops: convolution (and its [plan](ops::conv::ConvPlan)), pooling, dense, activations, losses; the same ops from autograd primitives ([`ops::composite`]) and the lecture's per-position loops ([`ops::reference`]), to check them against |
//! | [`layers`] | the [`Module`](layers::Module) trait, [`Sequential`](layers::Sequential), the layers and their initialisers |
//! | [`models`] | ready-made networks (LeNet-5) |
//! | [`inference`] | using a trained model: predictions, probabilities and classes in evaluation mode ([`EvalMode`](inference::EvalMode)), a model's summary |
//! | [`train`] | a training step and an epoch loop, evaluation, optimizers and learning-rate schedules, checkpoints |
//! | [`distributed`] | data-parallel training over several processes (MPI with the feature `mpi`): sharded batches, gradients summed over the processes, rank 0's weights broadcast |
//! | [`data`] | datasets of images of any shape and channel count (`u8` or `f32`), per-channel normalisation, the IDX reader (MNIST), the CIFAR-10/100 reader, the built-in digits, batching, images to input; augmentation transforms |
//! | [`torch_compat`] | PyTorch `state_dict`s (safetensors) imported into and exported from tapegrad models: kernel layouts, transposed dense weights, the flatten order |
//! | [`interpret`] | understanding what a network learned: deconvnet projections, attributions (gradient, guided backpropagation, integrated gradients, SmoothGrad, Grad-CAM), occlusion, top activations, feature evolution, invariance |

/// The `autograd` crate this one is built on (the tensors and the tape it takes and returns).
pub use autograd;
/// `#[derive(Module)]`: see [`layers::Module`].
pub use tapegrad_derive::Module;

pub mod data;
pub mod distributed;
pub mod inference;
pub mod interpret;
pub mod layers;
pub mod models;
pub mod ops;
pub mod torch_compat;
pub mod train;
