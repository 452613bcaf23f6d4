//! The data of the main job and the other training examples: real MNIST (`--data`) or the
//! built-in digits, and the `--validation-size` images held out of the training set.

use crate::cli::{Failure, Options};
use tapegrad::nn::data::{Dataset, idx, synthetic};

/// The training set, the test set, and where they came from.
pub fn load_data(o: &Options) -> Result<(Dataset, Dataset, String), Failure> {
    match &o.data {
        Some(dir) => {
            let train = idx::load_mnist(dir, idx::Split::Train).map_err(|e| e.to_string())?;
            let test = idx::load_mnist(dir, idx::Split::Test).map_err(|e| e.to_string())?;
            if (train.rows, train.cols) != (28, 28) || (test.rows, test.cols) != (28, 28) {
                return Err(format!(
                    "{}: the model needs 28x28 images, the files hold {}x{}",
                    dir.display(),
                    train.rows,
                    train.cols
                ));
            }
            Ok((train, test, format!("MNIST from {}", dir.display())))
        }
        None => {
            let (train, test) = synthetic::train_test_split(o.train_size, o.test_size, o.seed);
            Ok((train, test, "built-in synthetic digits".into()))
        }
    }
}

/// `--validation-size N`: the last `N` training images become the validation data.
pub fn hold_out(train: Dataset, n: usize) -> Result<(Dataset, Option<Dataset>), Failure> {
    if n == 0 {
        return Ok((train, None));
    }
    if n >= train.len() {
        return Err(format!(
            "--validation-size {n} leaves no training images (there are {})",
            train.len()
        ));
    }
    let (kept, held) = train.split_at(train.len() - n).map_err(|e| e.to_string())?;
    Ok((kept, Some(held)))
}
