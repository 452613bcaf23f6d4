//! A picture of the augmentation: each row is one digit, first as it is, then as several
//! epochs of training would see it under the main job's `--augment` recipe.
//!
//! `cargo run --release --example augment -- --out augment.png [--augment standard]
//! [--elastic A,S[,P]] [--data DIR] [--digits N] [--samples K] [--seed N]`

use clap::Parser;
use std::path::PathBuf;
use tapegrad::nn::data::transforms::{ImageShape, Recipe};
use tapegrad::nn::data::{Dataset, idx, synthetic};
use tapegrad::nn::interpret::figure::{Grid, Normalization};

/// Write a PNG grid of original and augmented digits.
#[derive(Parser, Debug)]
#[command(name = "augment", term_width = 100)]
struct Options {
    /// The PNG to write
    #[arg(long, value_name = "PATH", default_value = "augment.png")]
    out: PathBuf,
    /// The recipe, as the main job's --augment: none | standard
    #[arg(long, value_name = "NAME", default_value = "standard")]
    augment: String,
    /// Elastic distortion ALPHA,SIGMA[,P] over the recipe, as the main job's --elastic
    #[arg(long, value_name = "A,S[,P]")]
    elastic: Option<String>,
    /// Digits from the MNIST training set in DIR instead of the built-in digits
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Rows: one digit each
    #[arg(long, value_name = "N", default_value_t = 8)]
    digits: usize,
    /// Augmented versions per digit (epochs 0, 1, ...)
    #[arg(long, value_name = "K", default_value_t = 9)]
    samples: usize,
    /// The run's seed (as the main job's --seed)
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
}

fn recipe(o: &Options) -> Result<Recipe, String> {
    let mut r = Recipe::named(&o.augment).map_err(|e| e.to_string())?;
    if let Some(spec) = &o.elastic {
        r = r.with_elastic_spec(spec).map_err(|e| format!("--elastic: {e}"))?;
    }
    Ok(r)
}

fn run(o: &Options) -> Result<(), String> {
    if o.digits == 0 || o.samples == 0 {
        return Err("--digits and --samples must be positive".into());
    }
    let recipe = recipe(o)?;
    let data: Dataset = match &o.data {
        Some(dir) => idx::load_mnist(dir, idx::Split::Train).map_err(|e| e.to_string())?,
        None => synthetic::generate(o.digits.max(10), o.seed),
    };
    let shape = ImageShape {
        h: data.rows,
        w: data.cols,
        c: 1,
    };
    let transforms = recipe.compose();
    let n = shape.len();
    let count = o.digits.min(data.len());
    let mut pixels = Vec::with_capacity(count * (1 + o.samples) * n);
    let mut out = vec![0u8; n];
    for i in 0..count {
        pixels.extend_from_slice(data.image(i));
        for epoch in 0..o.samples as u64 {
            transforms
                .apply(data.image(i), shape, 0, (o.seed, epoch, i as u64), &mut out)
                .map_err(|e| e.to_string())?;
            pixels.extend_from_slice(&out);
        }
    }
    let image = Grid::new()
        .cols(1 + o.samples)
        .padding(2)
        .scale(3)
        .normalization(Normalization::Range(0.0, 255.0))
        .render_u8(&pixels, &[count * (1 + o.samples), shape.h, shape.w, 1])
        .map_err(|e| e.to_string())?;
    image.write_png(&o.out).map_err(|e| e.to_string())?;
    println!(
        "{}: {count} digits (first column: as stored), then {} samples each of: {}",
        o.out.display(),
        o.samples,
        recipe.describe()
    );
    Ok(())
}

fn main() {
    let o = Options::parse();
    if let Err(e) = run(&o) {
        eprintln!("error: {}", e.replace('\n', " "));
        std::process::exit(2);
    }
}
