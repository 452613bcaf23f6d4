//! How the features change: over training (feature evolution) and under transformations
//! of the input (invariance).

use super::draw::{save, signed_crop};
use super::explain::Maps;
use super::{Context, Failure};
use rand::SeedableRng;
use tapegrad::nn::interpret::figure::{FigureError, Grid, LineChart, Page};
use tapegrad::nn::interpret::{InterpretError, Invariance, Warp, feature_evolution, paper_layers};
use tapegrad::nn::models::lenet5;

fn fe(e: FigureError) -> Failure {
    e.to_string()
}

fn ie(e: InterpretError) -> Failure {
    e.to_string()
}

/// Per conv layer, every feature map's strongest activation over some test images projected
/// to pixels, at every snapshot of training (Zeiler & Fergus, Fig. 4).
pub fn evolution(ctx: &Context, page: &mut Page) -> Result<(), Failure> {
    page.section("Feature evolution during training");
    if ctx.snapshots.is_empty() {
        page.paragraph("No snapshots: pass --evolution with checkpoints in training order.");
        return Ok(());
    }
    let pool: Vec<usize> = (0..ctx.options.top_pool.min(ctx.test.len()).min(500)).collect();
    let x = ctx.inputs(&pool);
    let paths: Vec<&std::path::Path> = ctx.snapshots.iter().map(|(_, p)| p.as_path()).collect();
    let labels: Vec<&str> = ctx.snapshots.iter().map(|(l, _)| l.as_str()).collect();
    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
    for layer in ["conv1", "conv2"] {
        let steps = feature_evolution(&mut model, &paths, layer, &x).map_err(ie)?;
        let channels = steps.first().map_or(0, |s| s.strongest.len());
        let mut tiles = Vec::with_capacity(channels * steps.len());
        for c in 0..channels {
            for s in &steps {
                tiles.push(signed_crop(&s.projections, c, &s.strongest[c].field)?);
            }
        }
        let scale = if layer == "conv1" { 10 } else { 5 };
        let img = Grid::new()
            .cols(steps.len())
            .padding(2)
            .scale(scale)
            .render_tiles(&tiles)
            .map_err(fe)?;
        let src = save(ctx, &format!("evolution_{layer}.png"), &img)?;
        page.figure(&src, &format!(
            "{layer}: one row per feature map, one column per snapshot ({}); each tile is the deconvnet projection of the map's strongest activation over {} test images at that point of training, cropped to its receptive field (red excites, blue inhibits). Rows that stop changing show features that have settled; a white tile is a map that no longer fires at all (dead).",
            labels.join(", "),
            pool.len()
        ))
        .map_err(fe)?;
    }
    Ok(())
}

/// For each warp, the distance of the first conv layer's and the last hidden layer's
/// features from the untransformed image's, and the true class's probability
/// (Zeiler & Fergus, Fig. 5).
pub fn invariance(ctx: &Context, page: &mut Page, maps: &Maps) -> Result<(), Failure> {
    page.section("Invariance to translation, scaling and rotation");
    let (first, last) = paper_layers(&ctx.model).map_err(ie)?;
    let steps = |lo: f64, hi: f64, step: f64| {
        let n = ((hi - lo) / step).round() as usize;
        (0..=n).map(|k| lo + k as f64 * step).collect::<Vec<f64>>()
    };
    let warps = [
        (
            Warp::Translation,
            "translation",
            "shift (pixels, right)",
            steps(-10.0, 10.0, 1.0),
        ),
        (Warp::Scale, "scale", "scale factor", steps(0.5, 1.5, 0.05)),
        (
            Warp::Rotation,
            "rotation",
            "rotation (degrees)",
            steps(-180.0, 180.0, 10.0),
        ),
    ];
    for (warp, name, axis, values) in warps {
        let curves = Invariance {
            warp,
            values: values.clone(),
            fill: ctx.normalized(0),
            first_layer: first.clone(),
            last_layer: last.clone(),
        }
        .curves(&ctx.model, &maps.images, &maps.targets)
        .map_err(ie)?;
        let mut charts = Vec::new();
        for (title, data, y_range) in [
            (format!("{first} distance"), &curves.first, None),
            (format!("{last} distance"), &curves.last, None),
            ("P(true class)".to_string(), &curves.probability, Some((0.0, 1.0))),
        ] {
            let (x_lo, x_hi) = (values[0], values[values.len() - 1]);
            let mut chart = LineChart::new(380, 300)
                .title(&title)
                .x_label(axis)
                .x_range(x_lo, x_hi);
            if let Some((lo, hi)) = y_range {
                chart = chart.y_range(lo, hi);
            }
            for (n, curve) in data.iter().enumerate() {
                let points = curves.values.iter().copied().zip(curve.iter().copied()).collect();
                chart = chart.series(&maps.targets[n].to_string(), points);
            }
            charts.push(chart.render().map_err(fe)?);
        }
        let img = Grid::new()
            .cols(3)
            .padding(4)
            .background([255; 3])
            .render_tiles(&charts)
            .map_err(fe)?;
        let src = save(ctx, &format!("invariance_{name}.png"), &img)?;
        page.figure(&src, &format!(
            "{name}: one line per explained digit (labelled by its class). Left and middle: the Euclidean distance between the {first} and the {last} features of the transformed and of the original image (0 at no change); right: the probability of the true class. Flat curves mean invariance."
        ))
        .map_err(fe)?;
    }
    Ok(())
}
