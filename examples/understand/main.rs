//! Understanding what LeNet-5 learned (issue #11, after Zeiler & Fergus 2014): one HTML page
//! of figures and the raw maps behind them.
//!
//! ```sh
//! cargo run --release --example understand -- --out understand
//! cargo run --release --example understand -- --data path/to/mnist --checkpoint lenet.safetensors --out understand
//! ```
//!
//! Without `--checkpoint` it trains LeNet-5 briefly (on the built-in digits, or on `--data`
//! MNIST), keeping snapshots for the feature-evolution figure. It writes `OUT/index.html`
//! (every figure a PNG beside it, with a caption saying how to read it), `OUT/maps.safetensors`
//! (the explained images and their attribution, Grad-CAM and occlusion maps, which
//! `tools/captum_check.py` compares with captum) and `OUT/model.safetensors` (the model explained).

mod draw;
mod dynamics;
mod explain;
mod maps;
mod network;
mod training;

use clap::Parser;
use std::path::PathBuf;
use tapegrad::autograd::Tensor;
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::{Dataset, idx, synthetic};
use tapegrad::nn::interpret::figure::Page;
use tapegrad::nn::layers::{Module, Sequential};
use tapegrad::nn::train::{checkpoint, evaluate};

/// Figures of what LeNet-5 learned: filters, feature maps, top-9 projections, attributions,
/// occlusion, feature evolution and invariance, on one self-contained HTML page.
#[derive(Parser, Debug, Clone)]
#[command(name = "understand")]
pub struct Options {
    /// Folder for index.html, its PNGs, maps.safetensors and model.safetensors (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Real MNIST IDX files (as for `--example mnist`); without it, the built-in digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A checkpoint of LeNet-5 (from `--example mnist -- --save PATH`); without it, a brief training run.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Checkpoints in training order for the feature-evolution figure (comma-separated);
    /// by default the snapshots of this run's training (a brief one if `--checkpoint` is given).
    #[arg(long, value_delimiter = ',')]
    pub evolution: Vec<PathBuf>,
    /// Built-in digits: training images.
    #[arg(long, default_value_t = 10_000)]
    pub train_size: usize,
    /// Built-in digits: test images (the top-9 search and the explained digits come from them).
    #[arg(long, default_value_t = 2_000)]
    pub test_size: usize,
    /// Training epochs when no checkpoint is given.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// SGD learning rate (Nesterov momentum 0.9).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Seeds the weights, the shuffling, the digits and SmoothGrad's noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many digits to explain (one per class, 0, 1, 2, ...; at most 10).
    #[arg(long, default_value_t = 6)]
    pub explain: usize,
    /// Test images searched for each feature map's top 9.
    #[arg(long, default_value_t = 1_000)]
    pub top_pool: usize,
    /// Integrated gradients: points of the trapezoid rule.
    #[arg(long, default_value_t = 32)]
    pub ig_steps: usize,
    /// SmoothGrad: noisy copies per image.
    #[arg(long, default_value_t = 32)]
    pub smoothgrad_samples: usize,
    /// SmoothGrad: noise standard deviation as a fraction of the image's value range.
    #[arg(long, default_value_t = 0.15)]
    pub smoothgrad_sigma: f64,
    /// Occlusion: the square's side in pixels.
    #[arg(long, default_value_t = 6)]
    pub occlusion_size: usize,
    /// Occlusion: the step between the square's positions.
    #[arg(long, default_value_t = 2)]
    pub occlusion_stride: usize,
    /// Occlusion: the square's grey level as a byte (0: the background black).
    #[arg(long, default_value_t = 0)]
    pub occlusion_byte: u8,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Everything the sections share.
pub struct Context {
    pub options: Options,
    pub model: Sequential<f32>,
    pub test: Dataset,
    pub normalize: Normalize,
    /// The checkpoints the evolution figure reads, with a label each.
    pub snapshots: Vec<(String, PathBuf)>,
}

impl Context {
    /// Test images `indices` as the model takes them, `[n, 28, 28, 1]`.
    pub fn inputs(&self, indices: &[usize]) -> Tensor<f32> {
        let subset = self.test.subset(indices).expect("indices of the test set");
        let mut batches = Batches::<f32>::new(&subset, indices.len().max(1), self.normalize.clone())
            .expect("the normaliser fits the test set");
        batches
            .next()
            .map(|b| b.images)
            .unwrap_or_else(|| Tensor::zeros(&[0, 28, 28, 1]))
    }

    /// The model's input value of a byte.
    pub fn normalized(&self, byte: u8) -> f64 {
        self.normalize.value(byte, 0)
    }
}

/// A one-line error for the user.
pub type Failure = String;

fn load_data(o: &Options) -> Result<(Dataset, Dataset, String), Failure> {
    match &o.data {
        Some(dir) => {
            let train = idx::load_mnist(dir, idx::Split::Train).map_err(|e| e.to_string())?;
            let test = idx::load_mnist(dir, idx::Split::Test).map_err(|e| e.to_string())?;
            if (test.rows, test.cols) != (28, 28) || (train.rows, train.cols) != (28, 28) {
                return Err(format!("{}: LeNet-5 needs 28x28 images", dir.display()));
            }
            Ok((train, test, format!("MNIST from {}", dir.display())))
        }
        None => {
            let (train, test) = synthetic::train_test_split(o.train_size, o.test_size, o.seed);
            Ok((train, test, "the built-in synthetic digits".into()))
        }
    }
}

fn check(o: &Options) -> Result<(), Failure> {
    if o.explain == 0 || o.explain > 10 {
        return Err("--explain must be between 1 and 10".into());
    }
    if o.epochs == 0 || o.batch_size == 0 || o.top_pool == 0 || o.threads == Some(0) {
        return Err("--epochs, --batch-size, --top-pool and --threads must be positive".into());
    }
    if o.data.is_none() && (o.train_size == 0 || o.test_size == 0) {
        return Err("--train-size and --test-size must be positive".into());
    }
    if !(o.lr > 0.0 && o.lr.is_finite()) {
        return Err("--lr must be a positive number".into());
    }
    Ok(())
}

fn run(o: Options) -> Result<(), Failure> {
    check(&o)?;
    if let Some(n) = o.threads {
        parallel::set_num_threads(n)?;
    }
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let (train, test, source) = load_data(&o)?;
    let normalize = Normalize::MNIST;
    let (mut model, snapshots, how) = training::model(&o, &train, normalize.clone())?;
    model.set_training(false);
    let eval = evaluate(&mut model, &test, 500, normalize.clone(), 10).map_err(|e| e.to_string())?;
    checkpoint::save(
        &o.out.join("model.safetensors"),
        &model,
        None,
        &[("data", source.clone())],
    )
    .map_err(|e| e.to_string())?;
    println!(
        "{how}; test accuracy {:.2}% on {} images of {source}",
        100.0 * eval.accuracy,
        test.len()
    );
    let ctx = Context {
        options: o,
        model,
        test,
        normalize,
        snapshots,
    };
    let mut page = Page::new("What LeNet-5 learned");
    page.paragraph(&format!(
        "{how}. Test accuracy {:.2}% on {} test images of {source}. The figures follow Zeiler & Fergus, \
         Visualizing and Understanding Convolutional Networks (2014); docs/lecture.md#understanding-cnns \
         explains them. In every signed map blue is negative, white zero and red positive, scaled per tile \
         by its largest magnitude; non-negative maps use viridis (dark purple low, yellow high).",
        100.0 * eval.accuracy,
        ctx.test.len()
    ));
    let explained = explain::explained_images(&ctx)?;
    network::filters(&ctx, &mut page)?;
    network::feature_maps(&ctx, &mut page, explained[0])?;
    network::top9(&ctx, &mut page)?;
    let maps = explain::attributions(&ctx, &mut page, &explained)?;
    let occlusion = explain::occlusion(&ctx, &mut page, &maps, &explained)?;
    dynamics::evolution(&ctx, &mut page)?;
    dynamics::invariance(&ctx, &mut page, &maps)?;
    maps::write(&ctx, &maps, &occlusion)?;
    let index = ctx.options.out.join("index.html");
    page.write(&index).map_err(|e| e.to_string())?;
    println!(
        "wrote {} ({} figures) and maps.safetensors",
        index.display(),
        page.images().len()
    );
    Ok(())
}

fn main() {
    let options = Options::parse();
    if let Err(e) = run(options) {
        eprintln!("error: {}", e.replace('\n', " "));
        std::process::exit(2);
    }
}
