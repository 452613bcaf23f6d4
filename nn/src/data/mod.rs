//! Data: [`Dataset`]s of images of any shape and channel count (`u8` or `f32` [`Pixel`]s),
//! the IDX reader for MNIST files ([`idx`]), the CIFAR-10 and CIFAR-100 binary format
//! ([`cifar`]), the built-in synthetic digits, per-channel normalisation
//! ([`Normalize`]), batching ([`batches`]), images to a model's input
//! ([`input`]), and per-sample transforms for augmentation ([`transforms`]).
//!
//! Images are channels-last, channels interleaved (`[rows, cols, channels]` per image, the
//! layout of a decoded PNG), and batches are `[N, rows, cols, channels]`, the layout of every
//! op (NHWC).
//!
//! ```
//! use nn::data::{Dataset, batches::{Batches, Normalize}};
//! // Four 2x2 RGB images whose pixels are all (255, 0, 51).
//! let images = [255u8, 0, 51].repeat(4 * 4);
//! let data = Dataset::new(images, vec![0, 1, 2, 3], [2, 2, 3]).unwrap();
//! let batch = Batches::<f32>::new(&data, 4, Normalize::CIFAR10).unwrap().next().unwrap();
//! assert_eq!(batch.images.shape(), &[4, 2, 2, 3]);
//! let x = batch.images.as_slice();
//! assert!((x[0] - (1.0 - 0.4914) / 0.2470).abs() < 1e-6); // R of the first pixel
//! assert!((x[2] - (0.2 - 0.4465) / 0.2616).abs() < 1e-6); // B
//! ```

pub mod batches;
pub mod cifar;
mod dataset;
pub mod idx;
pub mod input;
mod normalize;
mod pixel;
pub mod synthetic;
pub mod transforms;

pub use dataset::Dataset;
pub use normalize::Normalize;
pub use pixel::{ImageShape, Pixel};
