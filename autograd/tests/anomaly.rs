//! Anomaly mode: the first op whose output or gradient holds a NaN or an infinity is named,
//! with its tape position, its input shapes and the index of the value; off, nothing is
//! checked and the values pass as IEEE arithmetic makes them.

use autograd::{Error, Tape, Tensor};

fn fields(e: Error) -> (String, usize, Vec<Vec<usize>>, String, Vec<usize>, f64) {
    match e {
        Error::NonFinite(a) => (a.op, a.position, a.input_shapes, a.what, a.index, a.value),
        other => panic!("not an anomaly: {other}"),
    }
}

#[test]
fn a_forward_anomaly_names_the_op_that_made_it() {
    let tape = Tape::<f64>::new();
    tape.detect_anomaly(true);
    // Entries: x (0), exp (1), mul (2), log (3): ln 0 = -inf at [1, 0].
    let x = tape.var(Tensor::from_vec(vec![0.5, 1.0, 2.0, -1.0, 0.0, 3.0], &[2, 3]).unwrap());
    let mask = tape.constant(Tensor::from_vec(vec![1.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[2, 3]).unwrap());
    let y = (&x.exp() * &mask).log();
    let z = y.sum(); // -inf: passed on, not reported again
    let e = tape.backward(&z).err().unwrap();
    assert_eq!(tape.anomaly(), Some(e.clone()));
    let (op, position, shapes, what, index, value) = fields(e.clone());
    assert_eq!((op.as_str(), position), ("log", 3));
    assert_eq!(shapes, [vec![2, 3]]);
    assert_eq!((index, value), (vec![1, 0], f64::NEG_INFINITY));
    assert!(what.contains("all inputs finite"), "{what}");
    let msg = e.to_string();
    assert!(
        msg.contains("log") && msg.contains("tape entry 3") && msg.contains("[1, 0]"),
        "{msg}"
    );
}

#[test]
fn an_op_that_passes_a_nan_on_says_which_input_held_it() {
    let tape = Tape::<f32>::new();
    tape.detect_anomaly(true);
    let a = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]).unwrap());
    let b = tape.constant(Tensor::from_vec(vec![1.0, f32::NAN, 0.0, 1.0], &[2, 2]).unwrap());
    let y = a.matmul(&b).unwrap();
    let (op, position, shapes, what, index, value) = fields(tape.backward(&y.sum()).err().unwrap());
    assert_eq!((op.as_str(), position), ("matmul", 1));
    assert_eq!(shapes, [vec![1, 2], vec![2, 2]]);
    assert_eq!(index, [0, 1]);
    assert!(value.is_nan());
    assert!(what.contains("input 1 holds NaN at [0, 1]"), "{what}");
}

#[test]
fn a_backward_anomaly_names_the_rule_that_made_it() {
    // sqrt(0) = 0 is finite; its gradient dy / (2·0) is +inf.
    let tape = Tape::<f64>::new();
    tape.detect_anomaly(true);
    let x = tape.var(Tensor::from_vec(vec![4.0, 0.0, 1.0], &[3]).unwrap());
    let y = x.sqrt().sum();
    let (op, position, shapes, what, index, value) = fields(tape.backward(&y).err().unwrap());
    assert_eq!((op.as_str(), position), ("sqrt", 1));
    assert_eq!(shapes, [vec![3]]);
    assert_eq!(what, "the gradient of input 0");
    assert_eq!((index, value), (vec![1], f64::INFINITY));
}

#[test]
fn off_by_default_and_on_for_new_tapes_after_set_detect_anomaly() {
    // The process-wide default is read by this test alone (the others set their tapes).
    let run = |tape: &Tape<f64>| {
        let x = tape.var(Tensor::from_vec(vec![0.0], &[1]).unwrap());
        let y = x.sqrt().sum();
        tape.backward(&y).map(|g| g[&x].to_vec())
    };
    let tape = Tape::<f64>::new();
    assert!(!tape.detects_anomaly());
    assert_eq!(run(&tape).unwrap(), [f64::INFINITY]);
    autograd::anomaly::set_detect_anomaly(true);
    let checked = Tape::<f64>::new();
    autograd::anomaly::set_detect_anomaly(false);
    assert!(checked.detects_anomaly());
    assert!(matches!(run(&checked), Err(Error::NonFinite(_))));
    assert!(!Tape::<f64>::new().detects_anomaly());
}

#[test]
fn reset_forgets_the_anomaly() {
    let mut tape = Tape::<f64>::new();
    tape.detect_anomaly(true);
    {
        let x = tape.var(Tensor::from_vec(vec![-1.0], &[1]).unwrap());
        let _ = x.log();
    }
    assert!(tape.anomaly().is_some());
    tape.reset();
    assert!(tape.anomaly().is_none());
    let x = tape.var(Tensor::from_vec(vec![2.0], &[1]).unwrap());
    let y = x.log().sum();
    assert_eq!(tape.backward(&y).unwrap()[&x].to_vec(), [0.5]);
}
