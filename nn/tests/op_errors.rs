//! Bad arguments give errors that name the op and the shapes, never a panic.

use autograd::{Tape, Tensor};
use nn::ops::conv::{Conv2dConfig, conv2d};
use nn::ops::dense::dense;
use nn::ops::pool::{Pool2dConfig, avg_pool2d, max_pool2d};

fn msg<T>(r: autograd::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn conv2d_rejects_bad_arguments() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::zeros(&[2, 5, 5, 3]));
    let w = tape.var(Tensor::zeros(&[4, 3, 3, 3]));
    let cfg = Conv2dConfig::new();

    let m = msg(conv2d(&x, &tape.var(Tensor::zeros(&[4, 3, 3, 2])), None, cfg));
    assert!(
        m.contains("conv2d")
            && m.contains("channel mismatch")
            && m.contains("[2, 5, 5, 3]")
            && m.contains("[4, 3, 3, 2]"),
        "{m}"
    );

    let m = msg(conv2d(&x, &tape.var(Tensor::zeros(&[4, 7, 7, 3])), None, cfg));
    assert!(
        m.contains("conv2d") && m.contains("7x7") && m.contains("5x5"),
        "{m}"
    );
    // ... but padding can make room.
    assert_eq!(
        conv2d(&x, &tape.var(Tensor::zeros(&[4, 7, 7, 3])), None, cfg.padding(1))
            .unwrap()
            .shape(),
        &[2, 1, 1, 4]
    );

    let m = msg(conv2d(&x, &w, None, cfg.stride(0)));
    assert!(m.contains("conv2d") && m.contains("stride"), "{m}");
    let m = msg(conv2d(&x, &w, None, cfg.dilation(0)));
    assert!(m.contains("dilation"), "{m}");
    let m = msg(conv2d(&x, &w, None, cfg.dilation(3)));
    assert!(m.contains("7x7") && m.contains("dilation"), "{m}");

    let m = msg(conv2d(&x, &w, Some(&tape.var(Tensor::zeros(&[3]))), cfg));
    assert!(m.contains("bias") && m.contains("[3]"), "{m}");

    let m = msg(conv2d(&tape.var(Tensor::zeros(&[5, 5, 3])), &w, None, cfg));
    assert!(m.contains("[N, H, W, C_in]") && m.contains("[5, 5, 3]"), "{m}");
}

#[test]
fn pooling_rejects_bad_arguments() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::zeros(&[1, 4, 4, 2]));
    let m = msg(max_pool2d(&x, Pool2dConfig::new(5)));
    assert!(
        m.contains("max_pool2d") && m.contains("5x5") && m.contains("4x4") && m.contains("[1, 4, 4, 2]"),
        "{m}"
    );
    let m = msg(avg_pool2d(&x, Pool2dConfig::new(2).stride(0), true));
    assert!(m.contains("avg_pool2d") && m.contains("stride"), "{m}");
    let m = msg(max_pool2d(&x, Pool2dConfig::new(2).padding(2)));
    assert!(m.contains("padding") && m.contains("half"), "{m}");
    let m = msg(max_pool2d(
        &tape.var(Tensor::zeros(&[4, 4])),
        Pool2dConfig::new(2),
    ));
    assert!(m.contains("[N, H, W, C]"), "{m}");
}

#[test]
fn dense_rejects_bad_arguments() {
    let tape = Tape::<f32>::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let m = msg(dense(&a, &tape.var(Tensor::zeros(&[4, 5])), None));
    assert!(
        m.contains("dense") && m.contains("[2, 3]") && m.contains("[4, 5]"),
        "{m}"
    );
    let m = msg(dense(
        &a,
        &tape.var(Tensor::zeros(&[3, 5])),
        Some(&tape.var(Tensor::zeros(&[4]))),
    ));
    assert!(m.contains("bias") && m.contains("[5]"), "{m}");
    let m = msg(dense(
        &tape.var(Tensor::zeros(&[2, 1, 3])),
        &tape.var(Tensor::zeros(&[3, 5])),
        None,
    ));
    assert!(m.contains("flatten"), "{m}");
}
