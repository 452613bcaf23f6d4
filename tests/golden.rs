//! The golden test: reference cases computed by PyTorch in float64, in the schema of
//! schema 1 (`tests/golden/README.md`), run forward and backward through the nn ops in
//! f64 and compared element by element within `1e-9 + 1e-7·|expected|`.
//!
//! Cases come from the project's own `tests/golden/` folder and from every folder listed in
//! the `GOLDEN_DIR` environment variable (colon separated). The test fails on any value over
//! the tolerance, on an op it does not know, on a tensor name it would not check, on a
//! schema other than "1", and on a listed folder that holds no case. It prints how many
//! cases of each op passed.

mod common;
use autograd::{Tape, Tensor, Var};
use common::Scratch;
use nn::layers::Module;
use nn::models::lenet5;
use nn::ops::conv::{Conv2dConfig, conv2d};
use nn::ops::dense::dense;
use nn::ops::loss::{Reduction, softmax_cross_entropy};
use nn::ops::pool::{Pool2dConfig, avg_pool2d, max_pool2d};
use rand::SeedableRng;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tapegrad::{autograd, nn};

const LENET_PARAMS: [&str; 10] = [
    "conv1.w", "conv1.b", "conv2.w", "conv2.b", "fc1.w", "fc1.b", "fc2.w", "fc2.b", "fc3.w", "fc3.b",
];

/// One case file, read.
struct Case {
    op: String,
    meta: HashMap<String, String>,
    floats: HashMap<String, Tensor<f64>>,
    labels: Option<Vec<usize>>,
}

fn read_case(path: &Path) -> Result<Case, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let meta = header.metadata().clone().unwrap_or_default();
    match meta.get("schema").map(String::as_str) {
        Some("1") => {}
        other => return Err(format!("schema {other:?} is not the supported schema \"1\"")),
    }
    let op = meta.get("op").cloned().ok_or("no \"op\" in the metadata")?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| format!("bad safetensors data: {e}"))?;
    let mut floats = HashMap::new();
    let mut labels = None;
    for (name, view) in st.tensors() {
        match (name.as_str(), view.dtype()) {
            ("labels", Dtype::I64) => {
                let v: Result<Vec<usize>, String> = view
                    .data()
                    .chunks_exact(8)
                    .map(|c| {
                        let l = i64::from_le_bytes(c.try_into().unwrap());
                        usize::try_from(l).map_err(|_| format!("label {l} is negative"))
                    })
                    .collect();
                labels = Some(v?);
            }
            (_, Dtype::F64) => {
                let v = view
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                floats.insert(
                    name.clone(),
                    Tensor::from_vec(v, view.shape()).map_err(|e| e.to_string())?,
                );
            }
            (_, dtype) => {
                return Err(format!(
                    "tensor {name:?} has dtype {dtype:?}; the schema has F64 and I64 labels only"
                ));
            }
        }
    }
    Ok(Case {
        op,
        meta,
        floats,
        labels,
    })
}

/// A metadata pair `"a,b"`.
fn pair(case: &Case, key: &str) -> Result<(usize, usize), String> {
    let v = case
        .meta
        .get(key)
        .ok_or_else(|| format!("metadata {key:?} is missing"))?;
    let parts: Vec<&str> = v.split(',').collect();
    match parts.as_slice() {
        [a, b] => Ok((
            a.trim().parse().map_err(|_| format!("{key} = {v:?}"))?,
            b.trim().parse().map_err(|_| format!("{key} = {v:?}"))?,
        )),
        _ => Err(format!("metadata {key} = {v:?} is not a pair \"a,b\"")),
    }
}

fn input<'c>(case: &'c Case, name: &str) -> Result<&'c Tensor<f64>, String> {
    case.floats
        .get(name)
        .ok_or_else(|| format!("input tensor {name:?} is missing"))
}

/// Computes every expected tensor of a case; returns them by name.
fn compute(case: &Case) -> Result<BTreeMap<String, Tensor<f64>>, String> {
    let e = |e: autograd::Error| e.to_string();
    let tape = Tape::<f64>::new();
    let mut out = BTreeMap::new();
    let mut vars: Vec<(String, Var<'_, f64>)> = Vec::new();
    let y = match case.op.as_str() {
        "conv2d" | "dense" => {
            let (x, w, b) = (
                tape.var(input(case, "x")?.clone()),
                tape.var(input(case, "w")?.clone()),
                tape.var(input(case, "b")?.clone()),
            );
            let y = if case.op == "conv2d" {
                let cfg = Conv2dConfig {
                    stride: pair(case, "stride")?,
                    padding: pair(case, "padding")?,
                    dilation: pair(case, "dilation")?,
                };
                conv2d(&x, &w, Some(&b), cfg).map_err(e)?
            } else {
                dense(&x, &w, Some(&b)).map_err(e)?
            };
            vars.extend([("gx".into(), x), ("gw".into(), w), ("gb".into(), b)]);
            y
        }
        "max_pool2d" | "avg_pool2d" => {
            let x = tape.var(input(case, "x")?.clone());
            let cfg = Pool2dConfig {
                kernel: pair(case, "kernel")?,
                stride: pair(case, "stride")?,
                padding: pair(case, "padding")?,
            };
            let y = if case.op == "max_pool2d" {
                max_pool2d(&x, cfg)
            } else {
                avg_pool2d(&x, cfg, true)
            }
            .map_err(e)?;
            vars.push(("gx".into(), x));
            y
        }
        "softmax_cross_entropy" => {
            let x = tape.var(input(case, "x")?.clone());
            let labels = case.labels.as_ref().ok_or("the labels tensor is missing")?;
            let y = softmax_cross_entropy(&x, labels, Reduction::Mean).map_err(e)?;
            vars.push(("gx".into(), x));
            y
        }
        "lenet5" => {
            let mut model = lenet5::<f64, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
            for (name, p) in model.parameters_mut() {
                p.set(input(case, &name)?.clone()).map_err(e)?;
            }
            let x = tape.var(input(case, "x")?.clone());
            let labels = case.labels.as_ref().ok_or("the labels tensor is missing")?;
            let logits = model.forward(&x).map_err(e)?;
            out.insert("logits".to_string(), logits.value().clone());
            let y = softmax_cross_entropy(&logits, labels, Reduction::Mean).map_err(e)?;
            let grads = tape.backward(&y).map_err(e)?;
            out.insert("y".into(), y.value().clone());
            out.insert("gx".into(), grads[&x].clone());
            for (name, p) in model.parameters() {
                out.insert(format!("grad.{name}"), grads[p].clone());
            }
            return Ok(out);
        }
        other => return Err(format!("unknown op {other:?}")),
    };
    let grads = match case.floats.get("gy") {
        Some(gy) => tape.backward_with(&y, gy.clone()),
        None => tape.backward(&y),
    }
    .map_err(e)?;
    out.insert("y".into(), y.value().clone());
    for (name, v) in &vars {
        out.insert(name.clone(), grads[v].clone());
    }
    Ok(out)
}

/// The tensor names a case of `op` may hold: its inputs and its expected results.
fn known_names(op: &str) -> Vec<String> {
    let names: &[&str] = match op {
        "conv2d" | "dense" => &["x", "w", "b", "gy", "y", "gx", "gw", "gb"],
        "max_pool2d" | "avg_pool2d" => &["x", "gy", "y", "gx"],
        "softmax_cross_entropy" => &["x", "labels", "y", "gx"],
        "lenet5" => &["x", "labels", "logits", "y", "gx"],
        _ => &[],
    };
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    if op == "lenet5" {
        v.extend(
            LENET_PARAMS
                .iter()
                .flat_map(|p| [p.to_string(), format!("grad.{p}")]),
        );
    }
    v
}

/// Runs one case: `Ok` when every expected tensor matches, else what went wrong.
fn check_case(path: &Path) -> Result<String, String> {
    let case = read_case(path)?;
    let known = known_names(&case.op);
    if known.is_empty() {
        return Err(format!("unknown op {:?}", case.op));
    }
    let present = case
        .floats
        .keys()
        .cloned()
        .chain(case.labels.iter().map(|_| "labels".to_string()));
    for name in present {
        if !known.contains(&name) {
            return Err(format!(
                "tensor {name:?} is not one the {} harness checks or reads",
                case.op
            ));
        }
    }
    let computed = compute(&case)?;
    let mut checked = 0;
    for (name, got) in &computed {
        let Some(want) = case.floats.get(name) else {
            return Err(format!("expected tensor {name:?} is missing from the case"));
        };
        if got.shape() != want.shape() {
            return Err(format!(
                "{name}: shape {:?}, expected {:?}",
                got.shape(),
                want.shape()
            ));
        }
        for (i, (a, b)) in got.as_slice().iter().zip(want.as_slice()).enumerate() {
            // Written so that a NaN fails too.
            let within = (a - b).abs() <= 1e-9 + 1e-7 * b.abs();
            if !within {
                return Err(format!(
                    "{name}[{i}] = {a:e}, expected {b:e} (off by {:e})",
                    (a - b).abs()
                ));
            }
            checked += 1;
        }
    }
    if checked == 0 {
        return Err("no expected tensor to check".to_string());
    }
    Ok(case.op)
}

/// Runs every `.safetensors` case of a folder: the count of passed cases per op, or the
/// failures (a folder with no case is a failure).
fn run_folder(dir: &Path) -> Result<BTreeMap<String, usize>, Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Err(vec![format!("{}: cannot list the folder: {e}", dir.display())]),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(vec![format!(
            "{}: the folder holds no .safetensors case",
            dir.display()
        )]);
    }
    let mut passed = BTreeMap::new();
    let mut failures = Vec::new();
    for f in &files {
        match check_case(f) {
            Ok(op) => *passed.entry(op).or_insert(0) += 1,
            Err(why) => failures.push(format!("{}: {why}", f.display())),
        }
    }
    if failures.is_empty() {
        Ok(passed)
    } else {
        Err(failures)
    }
}

#[test]
fn golden_cases_match_pytorch() {
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")];
    match std::env::var("GOLDEN_DIR") {
        Ok(list) => dirs.extend(list.split(':').filter(|s| !s.is_empty()).map(PathBuf::from)),
        Err(_) => common::skip::skip(
            "golden_cases_match_pytorch (PyTorch's cases)",
            "GOLDEN_DIR is unset: checking only the project's own cases in tests/golden",
        ),
    }
    let mut failures = Vec::new();
    for dir in &dirs {
        match run_folder(dir) {
            Ok(passed) => {
                let summary: Vec<String> = passed.iter().map(|(op, n)| format!("{op} {n}")).collect();
                println!(
                    "{}: passed {} cases: {}",
                    dir.display(),
                    passed.values().sum::<usize>(),
                    summary.join(", ")
                );
            }
            Err(f) => failures.extend(f),
        }
    }
    assert!(failures.is_empty(), "golden failures:\n{}", failures.join("\n"));
}

// The harness itself must be able to fail: each way a folder can be wrong, checked.

fn scratch_dir(tag: &str) -> Scratch {
    Scratch::new(&format!("golden-{tag}"))
}

fn write_case(dir: &Path, name: &str, meta: &[(&str, &str)], tensors: &[(&str, &[usize], Vec<f64>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.to_string(),
                s.to_vec(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(Dtype::F64, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let meta: HashMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    std::fs::write(dir.join(name), safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
}

/// A correct dense case computed by hand: x [1,2], w [2,1], b [1], gy [1,1].
fn dense_tensors(y: f64) -> Vec<(&'static str, &'static [usize], Vec<f64>)> {
    vec![
        ("x", &[1, 2], vec![1.0, 2.0]),
        ("w", &[2, 1], vec![3.0, 4.0]),
        ("b", &[1], vec![0.5]),
        ("gy", &[1, 1], vec![2.0]),
        ("y", &[1, 1], vec![y]),
        ("gx", &[1, 2], vec![6.0, 8.0]),
        ("gw", &[2, 1], vec![2.0, 4.0]),
        ("gb", &[1], vec![2.0]),
    ]
}

#[test]
fn harness_passes_a_hand_computed_case_and_fails_a_wrong_value() {
    let d = scratch_dir("values");
    write_case(
        &d,
        "good.safetensors",
        &[("op", "dense"), ("schema", "1")],
        &dense_tensors(11.5),
    );
    assert_eq!(run_folder(&d).unwrap().get("dense"), Some(&1));
    write_case(
        &d,
        "bad.safetensors",
        &[("op", "dense"), ("schema", "1")],
        &dense_tensors(11.5 + 1e-5),
    );
    let f = run_folder(&d).unwrap_err();
    assert!(
        f.len() == 1 && f[0].contains("bad.safetensors") && f[0].contains("y[0]"),
        "{f:?}"
    );
}

#[test]
fn harness_fails_on_an_unknown_op() {
    let d = scratch_dir("unknown-op");
    write_case(
        &d,
        "c.safetensors",
        &[("op", "conv3d"), ("schema", "1")],
        &dense_tensors(11.5),
    );
    let f = run_folder(&d).unwrap_err();
    assert!(f[0].contains("unknown op \"conv3d\""), "{f:?}");
}

#[test]
fn harness_fails_on_an_empty_folder() {
    let d = scratch_dir("empty");
    let f = run_folder(&d).unwrap_err();
    assert!(f[0].contains("holds no .safetensors case"), "{f:?}");
}

#[test]
fn harness_fails_on_a_tensor_it_would_not_check_and_on_another_schema() {
    let d = scratch_dir("extra");
    let mut t = dense_tensors(11.5);
    t.push(("gz", &[1], vec![0.0]));
    write_case(&d, "c.safetensors", &[("op", "dense"), ("schema", "1")], &t);
    let f = run_folder(&d).unwrap_err();
    assert!(f[0].contains("\"gz\""), "{f:?}");
    let d = scratch_dir("schema");
    write_case(
        &d,
        "c.safetensors",
        &[("op", "dense"), ("schema", "2")],
        &dense_tensors(11.5),
    );
    let f = run_folder(&d).unwrap_err();
    assert!(f[0].contains("schema"), "{f:?}");
}
