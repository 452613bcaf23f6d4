//! The entry points of the fuzz targets, one per parser: each takes arbitrary bytes and must
//! return (an `Ok` or an error), never panic, allocate without bound or hang. The stable test
//! `nn/tests/fuzz_corpus.rs` includes this file and runs every committed corpus file through
//! the same functions.
//!
//! The readers take paths, so the bytes go to a file first (in `/dev/shm` where it exists,
//! one per process and target).

use std::io::Write;
use std::path::PathBuf;

/// A scratch file for `target`'s inputs, the same one for every call in this process.
fn scratch(target: &str) -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("tapegrad-fuzz-{}-{target}", std::process::id()))
}

/// Writes `data` to `target`'s scratch file and returns its path.
fn write(target: &str, data: &[u8]) -> PathBuf {
    let path = scratch(target);
    std::fs::write(&path, data).expect("the scratch file can be written");
    path
}

/// The IDX reader on the bytes as a file (raw, or gzip when they start with its magic): as
/// any array, as images and as labels; on success the result must agree with the header.
pub fn idx_raw(data: &[u8]) {
    let path = write("idx", data);
    read_idx(&path);
}

/// The IDX reader on the bytes gzipped first, so that the fuzzer explores the header checks
/// behind the decompressor (the gzip-specific size and ratio checks included).
pub fn idx_gzip(data: &[u8]) {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(data).expect("writing to a Vec");
    let path = write("idx-gz", &z.finish().expect("writing to a Vec"));
    read_idx(&path);
}

fn read_idx(path: &std::path::Path) {
    use nn::data::idx;
    if let Ok(a) = idx::read_idx_u8(path) {
        assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
    }
    if let Ok(images) = idx::read_images(path) {
        assert_eq!(images.count * images.rows * images.cols, images.pixels.len());
    }
    if let Ok(labels) = idx::read_labels(path) {
        assert!(labels.iter().all(|&l| l <= 9));
    }
}

/// The CIFAR readers on the bytes: as a stream of CIFAR-10 records and of CIFAR-100 records
/// (either label), and as a CIFAR-10 `test_batch.bin` file that `load_cifar10` finds in a
/// directory (its length checked before reading), which must agree with the stream reader.
/// What reads must have one `[32, 32, 3]` image per label and labels that are classes.
pub fn cifar(data: &[u8]) {
    use nn::data::cifar::{self, Cifar100Labels, Split};
    let check = |d: &nn::data::Dataset, classes: u8| {
        assert_eq!(d.images.len(), d.labels.len() * 32 * 32 * 3);
        assert_eq!((d.rows, d.cols, d.channels), (32, 32, 3));
        assert!(d.labels.iter().all(|&l| l < classes));
    };
    let streamed = cifar::read_cifar10(data, "fuzz-input");
    if let Ok(d) = &streamed {
        check(d, 10);
        assert_eq!(d.len() * cifar::CIFAR10_RECORD, data.len());
    }
    for (labels, classes) in [(Cifar100Labels::Coarse, 20), (Cifar100Labels::Fine, 100)] {
        if let Ok(d) = cifar::read_cifar100(data, "fuzz-input", labels) {
            check(&d, classes);
        }
    }
    let dir = scratch("cifar-dir");
    std::fs::create_dir_all(&dir).expect("the scratch directory can be made");
    std::fs::write(dir.join("test_batch.bin"), data).expect("the scratch file can be written");
    let loaded = cifar::load_cifar10(&dir, Split::Test);
    match (&streamed, &loaded) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("read_cifar10 and load_cifar10 disagree: {streamed:?} against {loaded:?}"),
    }
}

/// The checkpoint loader on the bytes as a file (in `f32` and `f64`); what loads is then
/// restored into LeNet-5 and an SGD optimizer, which must refuse what does not fit.
pub fn checkpoint(data: &[u8]) {
    use nn::train::checkpoint::{self, NonFiniteValues};
    let path = write("checkpoint", data);
    let _ = checkpoint::load::<f64>(&path);
    let _ = checkpoint::load_with::<f32>(&path, NonFiniteValues::Allow);
    if let Ok(ckpt) = checkpoint::load::<f32>(&path) {
        use rand::SeedableRng;
        let mut model = nn::models::lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
        let _ = ckpt.restore_model(&mut model);
        let mut sgd = nn::train::optim::Sgd::<f32>::new(0.1).momentum(0.9);
        let _ = ckpt.restore_optimizer(&mut sgd);
    }
}

/// The augmentation recipe's parsers: a recipe name and the `--elastic A,S[,P]` spec; a
/// spec that parses is then applied to one 28x28 image (a huge `SIGMA` must not make a huge
/// kernel).
pub fn recipe(data: &[u8]) {
    use nn::data::transforms::{ImageShape, Recipe};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Recipe::named(text);
    if let Ok(r) = Recipe::NONE.with_elastic_spec(text) {
        assert!(r.elastic_alpha.is_finite() && r.elastic_sigma.is_finite());
        assert!((0.0..=1.0).contains(&r.elastic_p));
        let image: Vec<u8> = (0..784).map(|i| (i * 7 % 256) as u8).collect();
        let mut out = vec![0; 784];
        let shape = ImageShape { h: 28, w: 28, c: 1 };
        let _ = r.compose().apply(&image, shape, 0, (1, 0, 0), &mut out);
    }
}

/// The PyTorch `state_dict` importer (`nn::torch_compat::import_sequential`) on the bytes as
/// a file, into the small CNN of `nn/tests/torch_compat.rs` (whose fixture seeds the corpus):
/// conv 1→3 (padding 1), max pool, conv 3→5, flatten, dense 20→5, tanh, dense 5→3.
pub fn torch_state_dict(data: &[u8]) {
    use nn::layers::{Conv2d, Dense, Flatten, MaxPool2d, Sequential, Tanh};
    use nn::ops::activation::Activation;
    use nn::ops::conv::Conv2dConfig;
    use nn::ops::pool::Pool2dConfig;
    use rand::SeedableRng;
    let path = write("torch", data);
    let rng = &mut rand::rngs::StdRng::seed_from_u64(1);
    let relu = Activation::Relu;
    let mut model: Sequential<f64> = Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 3, (3, 3), Conv2dConfig::new().padding(1), rng).with_activation(relu),
        )
        .add("pool1", MaxPool2d(Pool2dConfig::new(2)))
        .add(
            "conv2",
            Conv2d::new(3, 5, (3, 3), Conv2dConfig::new(), rng).with_activation(relu),
        )
        .add("flatten", Flatten)
        .add("fc1", Dense::new(20, 5, rng))
        .add("tanh", Tanh)
        .add("fc2", Dense::new(5, 3, rng));
    let _ = nn::torch_compat::import_sequential(&mut model, &path, &[8, 8, 1]);
}
