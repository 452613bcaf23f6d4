//! What the network holds: its filters, one image's feature maps at every layer, and the
//! top 9 activations of every conv feature map with their deconvnet projections.

use super::draw::{gray, input_crop, save, signed_crop, values};
use super::{Context, Failure};
use tapegrad::autograd::Tensor;
use tapegrad::nn::interpret::figure::{Colormap, Grid, Image, Normalization, Page, value_range};
use tapegrad::nn::interpret::{
    Seed, feature_maps as maps_of, filters as filters_of, project, top_activations,
};

/// conv1's kernels (normalised grey and signed) and conv2's kernels, one row per filter.
pub fn filters(ctx: &Context, page: &mut Page) -> Result<(), Failure> {
    page.section("Filters");
    let e = |e: tapegrad::nn::interpret::InterpretError| e.to_string();
    let f = |e: tapegrad::nn::interpret::figure::FigureError| e.to_string();
    let gray1 = filters_of(&ctx.model, "conv1").map_err(e)?;
    let img = Grid::new()
        .cols(6)
        .padding(4)
        .scale(16)
        .render(&gray1)
        .map_err(f)?;
    let src = save(ctx, "filters_conv1.png", &img)?;
    page.figure(&src, "conv1's six 5x5 kernels, each stretched from its smallest (black) to its largest weight (white): the edge and stroke detectors the first layer learned.")
        .map_err(f)?;
    let w1 = param(ctx, "conv1.w")?;
    let img = Grid::new()
        .cols(6)
        .padding(4)
        .scale(16)
        .colormap(Colormap::Diverging)
        .render(&w1)
        .map_err(f)?;
    let src = save(ctx, "filters_conv1_signed.png", &img)?;
    page.figure(&src, "The same kernels signed: red weights add the pixel's brightness, blue ones subtract it (each kernel scaled by its largest magnitude), so a red stripe beside a blue one is an edge detector across them.")
        .map_err(f)?;
    let w2 = param(ctx, "conv2.w")?;
    let [c_out, kh, kw, c_in] = *w2.shape() else {
        return Err(format!("conv2.w has shape {:?}", w2.shape()));
    };
    let v = values(&w2);
    let mut tiles = Vec::with_capacity(c_out * c_in);
    for kernel in v.chunks(kh * kw * c_in) {
        let range = value_range(kernel.iter().copied(), true);
        for ci in 0..c_in {
            let slice: Vec<f64> = kernel.iter().skip(ci).step_by(c_in).copied().collect();
            let tile = tapegrad::nn::interpret::figure::heatmap(&slice, kh, kw, Colormap::Diverging, range)
                .map_err(f)?;
            tiles.push(tile);
        }
    }
    let img = Grid::new()
        .cols(c_in)
        .padding(2)
        .scale(8)
        .render_tiles(&tiles)
        .map_err(f)?;
    let src = save(ctx, "filters_conv2.png", &img)?;
    page.figure(&src, &format!("conv2's {c_out} kernels, one per row, split into their {c_in} input channels (columns: conv1's feature maps 0 to {}); each row scaled by its kernel's largest magnitude, blue negative, red positive.", c_in - 1))
        .map_err(f)?;
    Ok(())
}

fn param(ctx: &Context, name: &str) -> Result<Tensor<f32>, Failure> {
    use tapegrad::nn::layers::Module;
    ctx.model
        .parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.value().clone())
        .ok_or_else(|| format!("the model has no parameter {name}"))
}

/// Every layer's output for one test image.
pub fn feature_maps(ctx: &Context, page: &mut Page, image: usize) -> Result<(), Failure> {
    let f = |e: tapegrad::nn::interpret::figure::FigureError| e.to_string();
    let label = ctx.test.labels[image];
    page.section(&format!("Feature maps of one image (a {label})"));
    let img = gray(ctx.test.image(image), 28, 28)?.upscaled(4).map_err(f)?;
    let src = save(ctx, "maps_input.png", &img)?;
    page.figure(
        &src,
        &format!("The input: test image {image}, a {label}, as the network sees it (28x28, shown 4x)."),
    )
    .map_err(f)?;
    let maps = maps_of(&ctx.model, &ctx.inputs(&[image])).map_err(|e| e.to_string())?;
    for (name, t) in &maps {
        let v = values(t);
        match *t.shape() {
            [1, h, w, c] => {
                let per_channel: Vec<f64> = (0..c)
                    .flat_map(|ch| v.iter().skip(ch).step_by(c).copied())
                    .collect();
                let scale = (112 / h).max(1);
                let img = Grid::new()
                    .cols(c.min(8))
                    .padding(3)
                    .scale(scale)
                    .colormap(Colormap::Sequential)
                    .normalization(Normalization::Shared)
                    .render_values(&per_channel, &[c, h, w])
                    .map_err(f)?;
                let src = save(ctx, &format!("maps_{name}.png"), &img)?;
                page.figure(&src, &format!("{name}: its {c} feature maps of {h}x{w} (after the fused ReLU for a conv), one colour scale for the whole layer: yellow strongest, dark purple zero, so an all-dark map does not respond to this digit."))
                    .map_err(f)?;
            }
            [1, k] if name != "flatten" => {
                let (colormap, what) = if name == "fc3" {
                    (
                        Colormap::Diverging,
                        "the 10 logits (classes 0 to 9, left to right), blue negative, red positive",
                    )
                } else {
                    (
                        Colormap::Sequential,
                        "its units after the fused ReLU, one cell each, yellow strongest",
                    )
                };
                let img = Grid::new()
                    .padding(1)
                    .scale(if k <= 10 { 40 } else { 8 })
                    .colormap(colormap)
                    .render_values(&v, &[1, 1, k])
                    .map_err(f)?;
                let src = save(ctx, &format!("maps_{name}.png"), &img)?;
                page.figure(&src, &format!("{name} ({k} values): {what}."))
                    .map_err(f)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// For conv1 and conv2: per feature map, the 9 test images whose strongest activation of it
/// is highest, as deconvnet projections and as image patches, both cropped to the receptive
/// field of that activation.
pub fn top9(ctx: &Context, page: &mut Page) -> Result<(), Failure> {
    let f = |e: tapegrad::nn::interpret::figure::FigureError| e.to_string();
    let e = |e: tapegrad::nn::interpret::InterpretError| e.to_string();
    page.section("Top 9 activations per feature map, projected to pixels");
    let pool: Vec<usize> = (0..ctx.options.top_pool.min(ctx.test.len())).collect();
    let x = ctx.inputs(&pool);
    for (layer, scale) in [("conv1", 8), ("conv2", 4)] {
        let tops = top_activations(&ctx.model, layer, &x, 9).map_err(e)?;
        let picked: Vec<usize> = tops.iter().flatten().map(|t| t.image).collect();
        let seeds: Vec<Seed> = tops
            .iter()
            .enumerate()
            .flat_map(|(channel, list)| {
                list.iter().map(move |t| Seed {
                    channel,
                    position: Some(t.position),
                })
            })
            .collect();
        let projections = project(
            &ctx.model,
            layer,
            &x.index_select(0, &picked).map_err(|e| e.to_string())?,
            &seeds,
        )
        .map_err(e)?;
        let mut tiles: Vec<Image> = Vec::new();
        let mut k = 0;
        for list in &tops {
            let mut row_images = Vec::new();
            for t in list {
                tiles.push(signed_crop(&projections, k, &t.field)?);
                row_images.push(input_crop(ctx, &x, t.image, &t.field)?);
                k += 1;
            }
            for _ in list.len()..9 {
                tiles.push(Image::filled_rgb(1, 1, [200; 3]));
            }
            tiles.push(Image::filled_rgb(1, 1, [200; 3]));
            tiles.extend(row_images);
            for _ in list.len()..9 {
                tiles.push(Image::filled_rgb(1, 1, [200; 3]));
            }
        }
        let img = Grid::new()
            .cols(19)
            .padding(2)
            .scale(scale)
            .render_tiles(&tiles)
            .map_err(f)?;
        let src = save(ctx, &format!("top9_{layer}.png"), &img)?;
        let field = tops
            .first()
            .and_then(|l| l.first())
            .map(|t| (t.field.rows.len(), t.field.cols.len()));
        let (fh, fw) = field.unwrap_or((0, 0));
        page.figure(&src, &format!(
            "{layer}: one row per feature map ({} rows). Left: the deconvnet projections of its 9 strongest activations over {} test images (red: pixels that excite it, blue: pixels that inhibit it); right: the same 9 image patches. Each crop is the activation's receptive field ({fh}x{fw} pixels inside the image, smaller at its border); an all-white row of projections is a dead feature map (its strongest activation is 0).",
            tops.len(),
            pool.len()
        ))
        .map_err(f)?;
    }
    Ok(())
}
