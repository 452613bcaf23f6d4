//! Why the network says what it says about a few digits: attribution maps of the true
//! class's logit (saliency, guided backpropagation, deconvnet, integrated gradients,
//! SmoothGrad, Grad-CAM) and occlusion sensitivity.

use super::draw::{gray, save, sequential, signed, values, with_headings};
use super::{Context, Failure};
use tapegrad::autograd::Tensor;
use tapegrad::nn::interpret::figure::{FigureError, Image, PALETTE, Page, font, overlay, resize_bilinear};
use tapegrad::nn::interpret::{
    Baseline, IntegratedGradients, InterpretError, Method, Occlusion, OcclusionMaps, SmoothGrad, deconvnet,
    grad_cam, guided_backprop, saliency,
};

fn fe(e: FigureError) -> Failure {
    e.to_string()
}

fn ie(e: InterpretError) -> Failure {
    e.to_string()
}

/// The explained test images: the first of each class `0, 1, ...`, `--explain` of them.
pub fn explained_images(ctx: &Context) -> Result<Vec<usize>, Failure> {
    (0..ctx.options.explain as u8)
        .map(|class| {
            ctx.test
                .labels
                .iter()
                .position(|&l| l == class)
                .ok_or_else(|| format!("the test set has no image of class {class}"))
        })
        .collect()
}

/// The raw maps of the explained images, as `maps.safetensors` stores them.
pub struct Maps {
    pub images: Tensor<f32>,
    pub targets: Vec<usize>,
    pub saliency: Tensor<f32>,
    pub guided_backprop: Tensor<f32>,
    pub deconvnet: Tensor<f32>,
    pub integrated_gradients: Tensor<f32>,
    pub smooth_grad: Tensor<f32>,
    pub grad_cam: Tensor<f32>,
    pub ig_baseline: f64,
}

/// The attribution maps of each explained image's true class, one row per image.
pub fn attributions(ctx: &Context, page: &mut Page, explained: &[usize]) -> Result<Maps, Failure> {
    page.section("Attributions: which pixels the class score depends on");
    let o = &ctx.options;
    let images = ctx.inputs(explained);
    let targets: Vec<usize> = explained.iter().map(|&i| ctx.test.labels[i] as usize).collect();
    let m = &ctx.model;
    let ig_baseline = ctx.normalized(0);
    let ig = IntegratedGradients {
        steps: o.ig_steps,
        baseline: Baseline::Constant(ig_baseline),
    }
    .attribute(m, &images, &targets)
    .map_err(ie)?;
    let sg = SmoothGrad {
        samples: o.smoothgrad_samples,
        sigma: o.smoothgrad_sigma,
        seed: o.seed,
        method: Method::Gradient,
    };
    let maps = Maps {
        saliency: saliency(m, &images, &targets).map_err(ie)?,
        guided_backprop: guided_backprop(m, &images, &targets).map_err(ie)?,
        deconvnet: deconvnet(m, &images, &targets).map_err(ie)?,
        integrated_gradients: ig.attributions.clone(),
        smooth_grad: sg.attribute(m, &images, &targets).map_err(ie)?,
        grad_cam: grad_cam(m, "conv2", &images, &targets).map_err(ie)?,
        images,
        targets,
        ig_baseline,
    };
    let [_, ch, cw] = *maps.grad_cam.shape() else {
        return Err(format!("grad_cam returned {:?}", maps.grad_cam.shape()));
    };
    let columns = [
        &maps.saliency,
        &maps.guided_backprop,
        &maps.deconvnet,
        &maps.integrated_gradients,
        &maps.smooth_grad,
    ];
    let cam = values(&maps.grad_cam);
    let mut tiles = Vec::new();
    for (n, &index) in explained.iter().enumerate() {
        let input = gray(ctx.test.image(index), 28, 28)?;
        tiles.push(input.upscaled(5).map_err(fe)?);
        for t in columns {
            tiles.push(
                signed(&values(t)[n * 784..(n + 1) * 784], 28, 28)?
                    .upscaled(5)
                    .map_err(fe)?,
            );
        }
        let up = resize_bilinear(&cam[n * ch * cw..(n + 1) * ch * cw], (ch, cw), (28, 28)).map_err(fe)?;
        let cam_tile = overlay(&input, &sequential(&up, 28, 28, None)?, 0.6).map_err(fe)?;
        tiles.push(cam_tile.upscaled(5).map_err(fe)?);
    }
    let headings = [
        "INPUT",
        "SALIENCY",
        "GUIDED BP",
        "DECONVNET",
        "INT. GRAD.",
        "SMOOTHGRAD",
        "GRAD-CAM",
    ];
    let img = with_headings(&headings, &tiles, 3)?;
    let src = save(ctx, "attributions.png", &img)?;
    page.figure(&src, &format!(
        "One row per digit, columns: the input; then, for the true class's logit, saliency (the gradient), guided backpropagation, deconvnet, integrated gradients ({} steps from the all-black image), SmoothGrad ({} noisy copies, sigma {} of the value range), each red where raising the pixel raises the score and blue where it lowers it, scaled per tile; last, Grad-CAM at conv2 ({ch}x{cw}, upsampled, over the input; yellow: the regions that drive the class).",
        o.ig_steps, o.smoothgrad_samples, o.smoothgrad_sigma
    ))
    .map_err(fe)?;
    let rows = (0..explained.len())
        .map(|n| {
            vec![
                explained[n].to_string(),
                maps.targets[n].to_string(),
                format!("{:.4}", ig.change[n]),
                format!("{:.2e}", ig.delta[n]),
            ]
        })
        .collect();
    page.paragraph("Integrated gradients are complete: their sum equals the change of the logit from the baseline to the image, up to the convergence delta of the trapezoid rule.");
    page.table(&["test image", "class", "logit(x) - logit(black)", "delta"], rows)
        .map_err(fe)?;
    Ok(maps)
}

/// The predicted class at every occluder position: a cell per position in the class's
/// palette colour with the digit written in it.
fn class_map(predicted: &[usize], p: usize, q: usize) -> Image {
    const CELL: usize = 18;
    let mut img = Image::filled_rgb(q * CELL, p * CELL, [255; 3]);
    for (k, &class) in predicted.iter().enumerate() {
        let (i, j) = (k / q, k % q);
        let rgb = PALETTE[class % PALETTE.len()];
        for y in 0..CELL {
            for x in 0..CELL {
                img.put((j * CELL + x) as i64, (i * CELL + y) as i64, rgb);
            }
        }
        let light = 0.299 * rgb[0] as f64 + 0.587 * rgb[1] as f64 + 0.114 * rgb[2] as f64 > 150.0;
        let ink = if light { [0; 3] } else { [255; 3] };
        font::draw_text(
            &mut img,
            &class.to_string(),
            (j * CELL + 4) as i64,
            (i * CELL + 2) as i64,
            2,
            ink,
        );
    }
    img
}

/// The three occlusion maps of each explained image (Zeiler & Fergus, Fig. 7).
pub fn occlusion(
    ctx: &Context,
    page: &mut Page,
    maps: &Maps,
    explained: &[usize],
) -> Result<OcclusionMaps<f32>, Failure> {
    page.section("Occlusion sensitivity");
    let o = &ctx.options;
    let occ = Occlusion {
        size: o.occlusion_size,
        stride: o.occlusion_stride,
        fill: ctx.normalized(o.occlusion_byte),
    };
    let out = occ
        .maps(&ctx.model, "conv2", &maps.images, &maps.targets)
        .map_err(ie)?;
    let (p, q) = out.positions;
    let cell = (224 / p.max(q)).max(1);
    let (prob, feat) = (values(&out.probability), values(&out.feature));
    let mut tiles = Vec::new();
    for (n, &index) in explained.iter().enumerate() {
        let mut input = gray(ctx.test.image(index), 28, 28)?.to_rgb();
        for k in 0..o.occlusion_size {
            for (x, y) in [
                (k, 0),
                (k, o.occlusion_size - 1),
                (0, k),
                (o.occlusion_size - 1, k),
            ] {
                input.put(x as i64, y as i64, [255, 0, 0]);
            }
        }
        tiles.push(input.upscaled(8).map_err(fe)?);
        let span = n * p * q..(n + 1) * p * q;
        tiles.push(
            sequential(&feat[span.clone()], p, q, None)?
                .upscaled(cell)
                .map_err(fe)?,
        );
        tiles.push(
            sequential(&prob[span.clone()], p, q, Some((0.0, 1.0)))?
                .upscaled(cell)
                .map_err(fe)?,
        );
        tiles.push(
            class_map(&out.predicted[span], p, q)
                .upscaled((cell / 18).max(1))
                .map_err(fe)?,
        );
    }
    let img = with_headings(&["INPUT", "CONV2 MAP", "P(TRUE CLASS)", "PREDICTED"], &tiles, 4)?;
    let src = save(ctx, "occlusion.png", &img)?;
    page.figure(&src, &format!(
        "A {s}x{s} square of grey level {b} (red outline, top left) slid with stride {st} over each digit; cell (i, j) of a map puts its corner at (i·{st}, j·{st}). Columns: the input; the total activation of conv2's strongest feature map (dark: the square hides what that map sees); the probability of the true class, 0 dark purple to 1 yellow (dark: the square hides what the decision rests on); the predicted class, written in each cell.",
        s = o.occlusion_size,
        b = o.occlusion_byte,
        st = o.occlusion_stride
    ))
    .map_err(fe)?;
    Ok(out)
}
