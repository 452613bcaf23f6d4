//! Figures decoded back with the `png` crate and compared with pixels worked out by hand.

use super::*;
use autograd::Tensor;
use std::path::PathBuf;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-figure-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `(width, height, color type, bytes)` of a PNG file, decoded by the `png` crate.
fn decode(path: &std::path::Path) -> (u32, u32, png::ColorType, Vec<u8>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, buf)
}

#[test]
fn gray_and_rgb_pngs_decode_to_their_bytes_and_leave_no_temporary_file() {
    let dir = temp_dir("write");
    let gray = Image::from_pixels(3, 2, Channels::Gray, vec![0, 10, 20, 200, 254, 255]).unwrap();
    let rgb = Image::from_pixels(2, 1, Channels::Rgb, vec![1, 2, 3, 250, 128, 0]).unwrap();
    gray.write_png(&dir.join("g.png")).unwrap();
    rgb.write_png(&dir.join("c.png")).unwrap();
    assert_eq!(
        decode(&dir.join("g.png")),
        (3, 2, png::ColorType::Grayscale, vec![0, 10, 20, 200, 254, 255])
    );
    assert_eq!(
        decode(&dir.join("c.png")),
        (2, 1, png::ColorType::Rgb, vec![1, 2, 3, 250, 128, 0])
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["c.png", "g.png"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_names_the_file_and_leaves_nothing_behind() {
    let dir = temp_dir("fail");
    let target = dir.join("missing-folder").join("x.png");
    let err = Image::filled(1, 1, Channels::Gray, 0)
        .write_png(&target)
        .unwrap_err();
    assert!(err.to_string().contains("missing-folder"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let empty = Image::filled(0, 3, Channels::Gray, 0).write_png(&dir.join("e.png"));
    assert!(matches!(empty, Err(FigureError::Shape { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_2x2_grid_of_known_values_has_the_expected_pixels() {
    // Four 1x2 images (one row, two columns each): values 0..8 with a shared range [0, 7].
    let t = Tensor::<f64>::from_vec((0..8).map(f64::from).collect(), &[4, 1, 2, 1]).unwrap();
    let grid = Grid::new()
        .cols(2)
        .padding(1)
        .scale(2)
        .normalization(Normalization::Shared)
        .background([9, 9, 9]);
    let img = grid.render(&t).unwrap();
    // Cells 4x2 pixels, padding 1: width 1 + 4 + 1 + 4 + 1, height 1 + 2 + 1 + 2 + 1.
    assert_eq!((img.width(), img.height()), (11, 7));
    let level = |v: f64| (v / 7.0 * 255.0).round() as u8;
    // Image k sits at column k % 2, row k / 2; its pixel j covers 2x2 output pixels.
    for k in 0..4 {
        let (x0, y0) = (1 + (k % 2) * 5, 1 + (k / 2) * 3);
        for j in 0..2 {
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let v = level((2 * k + j) as f64);
                assert_eq!(img.rgb(x0 + 2 * j + dx, y0 + dy), [v; 3], "image {k} pixel {j}");
            }
        }
    }
    for (x, y) in [(0, 0), (5, 1), (10, 6), (3, 3)] {
        assert_eq!(img.rgb(x, y), [9, 9, 9], "padding at ({x}, {y})");
    }
    // The same grid from bytes, shown as they are.
    let bytes = [0u8, 255, 51, 102];
    let img = Grid::new()
        .cols(2)
        .padding(0)
        .normalization(Normalization::Range(0.0, 255.0))
        .render_u8(&bytes, &[4, 1, 1, 1])
        .unwrap();
    let got: Vec<u8> = [(0, 0), (1, 0), (0, 1), (1, 1)]
        .iter()
        .map(|&(x, y)| img.rgb(x, y)[0])
        .collect();
    assert_eq!(got, bytes);
}

#[test]
fn per_image_normalisation_stretches_each_image_and_rgb_keeps_its_channels() {
    let t = Tensor::<f32>::from_vec(vec![1.0, 3.0, -10.0, 10.0], &[2, 1, 2]).unwrap();
    let img = Grid::new().cols(2).padding(0).render(&t).unwrap();
    let row: Vec<u8> = (0..4).map(|x| img.rgb(x, 0)[0]).collect();
    assert_eq!(row, [0, 255, 0, 255]);
    // One RGB pixel: channels are normalised together, keeping the colour.
    let c = Tensor::<f32>::from_vec(vec![0.0, 0.5, 1.0], &[1, 1, 1, 3]).unwrap();
    let img = Grid::new().padding(0).render(&c).unwrap();
    assert_eq!(img.rgb(0, 0), [0, 128, 255]);
}

#[test]
fn grids_refuse_bad_shapes_and_arguments() {
    let t = Tensor::<f32>::zeros(&[2, 3, 3, 2]);
    let err = Grid::new().render(&t).unwrap_err().to_string();
    assert!(
        err.contains("Grid::render") && err.contains("[2, 3, 3, 2]"),
        "{err}"
    );
    assert!(Grid::new().render(&Tensor::<f32>::zeros(&[3, 3])).is_err());
    assert!(Grid::new().render(&Tensor::<f32>::zeros(&[0, 3, 3, 1])).is_err());
    assert!(Grid::new().render_u8(&[0; 5], &[1, 2, 2, 1]).is_err());
    assert!(
        Grid::new()
            .scale(0)
            .render(&Tensor::<f32>::zeros(&[1, 2, 2, 1]))
            .is_err()
    );
    assert!(
        Grid::new()
            .cols(0)
            .render(&Tensor::<f32>::zeros(&[1, 2, 2, 1]))
            .is_err()
    );
    assert!(Image::from_pixels(2, 2, Channels::Gray, vec![0; 3]).is_err());
    assert!(heatmap(&[0.0; 5], 2, 3, Colormap::Sequential, None).is_err());
    let a = Image::filled(2, 2, Channels::Gray, 0);
    assert!(overlay(&a, &Image::filled(3, 2, Channels::Rgb, 0), 0.5).is_err());
    assert!(resize_bilinear(&[0.0; 4], (2, 3), (4, 4)).is_err());
}

#[test]
fn colormap_endpoints_and_midpoints() {
    let d = Colormap::Diverging;
    assert_eq!(d.color(-1.0), [33, 102, 172]);
    assert_eq!(d.color(0.0), [255, 255, 255]);
    assert_eq!(d.color(1.0), [178, 24, 43]);
    assert_eq!(d.color(-7.0), d.color(-1.0));
    // Halfway between white and the 0.5 stop (244, 165, 130).
    assert_eq!(d.color(0.25), [250, 210, 193]);
    let s = Colormap::Sequential;
    assert_eq!(s.color(0.0), [68, 1, 84]);
    assert_eq!(s.color(1.0), [253, 231, 37]);
    assert_eq!(s.color(0.5), [33, 145, 140]);
    assert_eq!(s.color(f64::NAN), NAN_SEQUENTIAL);
    // A signed map scales by the largest magnitude: -2 is full blue, 1 is the 0.5 stop.
    let img = heatmap(&[-2.0, 1.0, 0.0, f64::NAN], 2, 2, d, None).unwrap();
    assert_eq!(img.rgb(0, 0), [33, 102, 172]);
    assert_eq!(img.rgb(1, 0), [244, 165, 130]);
    assert_eq!(img.rgb(0, 1), [255, 255, 255]);
    assert_eq!(img.rgb(1, 1), NAN_DIVERGING);
    // A sequential map stretches [min, max].
    let img = heatmap(&[2.0, 4.0], 1, 2, s, None).unwrap();
    assert_eq!((img.rgb(0, 0), img.rgb(1, 0)), (s.color(0.0), s.color(1.0)));
}

#[test]
fn heatmap_png_round_trip_and_overlay_blend() {
    let dir = temp_dir("heat");
    let img = heatmap(&[0.0, 1.0], 1, 2, Colormap::Sequential, Some((0.0, 1.0))).unwrap();
    img.write_png(&dir.join("h.png")).unwrap();
    assert_eq!(decode(&dir.join("h.png")).3, [68, 1, 84, 253, 231, 37]);
    let base = Image::from_pixels(2, 1, Channels::Gray, vec![100, 200]).unwrap();
    let mixed = overlay(&base, &img, 0.25).unwrap();
    // 0.75·100 + 0.25·(68, 1, 84) and 0.75·200 + 0.25·(253, 231, 37), rounded.
    assert_eq!(mixed.rgb(0, 0), [92, 75, 96]);
    assert_eq!(mixed.rgb(1, 0), [213, 208, 159]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bilinear_resize_matches_hand_values() {
    // [[0, 1], [2, 3]] to 4x4 with pixel centres aligned: output x = 0.25, 0.75, 1.25, 1.75
    // in input pixels minus 0.5, i.e. -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    let out = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], (2, 2), (4, 4)).unwrap();
    let first_row = [0.0, 0.25, 0.75, 1.0];
    for (x, want) in first_row.iter().enumerate() {
        assert!((out[x] - want).abs() < 1e-12, "row 0 col {x}: {}", out[x]);
        assert!((out[12 + x] - (want + 2.0)).abs() < 1e-12, "row 3 col {x}");
    }
    assert!((out[4 + 1] - (0.25 + 2.0 * 0.25)).abs() < 1e-12);
}

#[test]
fn ticks_are_round_steps_inside_the_range() {
    assert_eq!(
        ticks(0.0, 1.0, 5),
        (vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0], 1)
    );
    let (t, dec) = ticks(0.0, 10.0, 5);
    assert_eq!((t, dec), (vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0], 0));
    let (t, _) = ticks(-3.0, 7.0, 2);
    assert_eq!(t, [0.0, 5.0]);
}

#[test]
fn a_line_chart_draws_its_series_in_palette_colours_inside_the_axes() {
    let chart = LineChart::new(300, 200)
        .x_range(0.0, 10.0)
        .y_range(0.0, 10.0)
        .series("up", vec![(0.0, 0.0), (10.0, 10.0)])
        .series("flat", vec![(0.0, 5.0), (10.0, 5.0)]);
    let img = chart.render().unwrap();
    let count = |rgb: [u8; 3]| {
        (0..img.height())
            .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| img.rgb(x, y) == rgb)
            .count()
    };
    // Both series are drawn; the flat one is a horizontal line of one colour spanning the plot.
    assert!(count(PALETTE[0]) > 150, "{}", count(PALETTE[0]));
    let rows: Vec<usize> = (0..img.height())
        .filter(|&y| (0..img.width()).filter(|&x| img.rgb(x, y) == PALETTE[1]).count() > 100)
        .collect();
    assert!(!rows.is_empty() && rows.len() <= 3, "{rows:?}");
    // It sits halfway between the x axis (a black row) and the top of the plot.
    let axis = (0..img.height())
        .rev()
        .find(|&y| (0..img.width()).filter(|&x| img.rgb(x, y) == [0, 0, 0]).count() > 150)
        .unwrap();
    // The y axis is the column with the most black pixels; its topmost one is the plot's top.
    let black_in = |x: usize| (0..img.height()).filter(|&y| img.rgb(x, y) == [0, 0, 0]).count();
    let y_axis = (0..img.width()).max_by_key(|&x| black_in(x)).unwrap();
    let plot_top = (0..img.height())
        .find(|&y| img.rgb(y_axis, y) == [0, 0, 0])
        .unwrap();
    let mid = (axis + plot_top) as f64 / 2.0;
    assert!(
        (rows[0] as f64 - mid).abs() <= 2.0,
        "flat line at {rows:?}, axis {axis}"
    );
    assert!(LineChart::new(300, 200).render().is_err());
    assert!(
        LineChart::new(30, 20)
            .series("a", vec![(0.0, 1.0)])
            .render()
            .is_err()
    );
    assert!(
        LineChart::new(300, 200)
            .series("nan", vec![(f64::NAN, 1.0)])
            .render()
            .is_err()
    );
}

#[test]
fn the_font_draws_a_one_as_its_bitmap() {
    let mut img = Image::filled(5, 7, Channels::Gray, 0);
    font::draw_text(&mut img, "1", 0, 0, 1, [255; 3]);
    let rows: Vec<String> = (0..7)
        .map(|y| {
            (0..5)
                .map(|x| if img.rgb(x, y)[0] == 255 { '#' } else { '.' })
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."]
    );
    assert_eq!(font::text_size("ab", 2), (22, 14));
}

#[test]
fn a_page_escapes_text_and_is_written_atomically() {
    let dir = temp_dir("html");
    let mut page = Page::new("a <b> & c");
    page.section("one").paragraph("x < y");
    page.figure("f.png", "the \"f\" map").unwrap();
    page.figure("sub/g.png", "nested").unwrap();
    for bad in [
        "",
        "/abs.png",
        "../up.png",
        "a/../b.png",
        "https://x.org/a.png",
        "C:\\a.png",
    ] {
        assert!(page.figure(bad, "no").is_err(), "{bad:?} was accepted");
    }
    assert!(page.table(&["a", "b"], vec![vec!["1".into()]]).is_err());
    page.table(&["a", "b"], vec![vec!["1".into(), "<2>".into()]])
        .unwrap();
    page.write(&dir.join("index.html")).unwrap();
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("<title>a &lt;b&gt; &amp; c</title>"));
    assert!(html.contains("<p>x &lt; y</p>"));
    assert!(html.contains("<figcaption>the &quot;f&quot; map</figcaption>"));
    assert!(html.contains("<td>&lt;2&gt;</td>"));
    assert!(!html.contains("<script") && !html.contains("http"));
    assert_eq!(page.images(), ["f.png", "sub/g.png"]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
