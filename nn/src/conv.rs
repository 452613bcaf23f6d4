//! 2-D convolution, channels-last, as a custom op whose backward is the lecture's hand rule in
//! GEMM form (`../shared/lecture/RULES.md`, "Backward (the hand rules)").
//!
//! Notation (the lecture's): the input `A^[l-1]` is `[N, H, W, C_in]`, the kernel `W^[l]` is
//! `[C_out, f_H, f_W, C_in]`, `p` is the zero padding, `s` the stride, and `Z^[l]` is
//! `[N, OH, OW, C_out]`. `B_ij` is the input slice that output position `ij` reads: its
//! `f_H · f_W · C_in` values, ordered `(kh, kw, ci)` like a kernel `W_c`.
//!
//! With one row per output position (im2col), the slices stack into a matrix
//! `B` of `M = N·OH·OW` rows and `K = f_H·f_W·C_in` columns, the kernels into `W` of `C_out`
//! rows and `K` columns, and the forward pass and the three hand rules are one GEMM each:
//!
//! | rule | per position (lecture) | as matrices |
//! |---|---|---|
//! | forward | `Z_ijc = Σ B_ij ⊙ W_c + b_c` | `Z = B · Wᵀ + b` |
//! | kernel | `dW_c = Σ_ij dZ_ijc · B_ij` | `dW = dZᵀ · B` |
//! | bias | `db_c = Σ_ij dZ_ijc` | column sums of `dZ` |
//! | input | `dZ_slice,ij += Σ_c dZ_ijc · W_c` | `dB = dZ · W`, then col2im adds each row of `dB` back into its slice |
//!
//! Channels-last makes `Z` (`[M, C_out]`, row-major) exactly the NHWC output, so no
//! transposes are needed anywhere.

use autograd::tensor::{MatMut, MatRef, gemm};
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var};

/// Stride, zero padding and dilation of a convolution, each `(along H, along W)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dConfig {
    /// `s`: the step between output positions.
    pub stride: (usize, usize),
    /// `p`: zero rows added at the top and bottom, zero columns at the left and right.
    pub padding: (usize, usize),
    /// The step between kernel taps (1: a dense kernel).
    pub dilation: (usize, usize),
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
        }
    }
}

impl Conv2dConfig {
    /// Stride 1, no padding, dilation 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// The same stride along both axes.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = (s, s);
        self
    }
    /// The same padding along both axes.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = (p, p);
        self
    }
    /// The same dilation along both axes.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = (d, d);
        self
    }
}

/// The sizes of one convolution, checked against each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub n: usize,
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels (kernels).
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Output height: `floor((H + 2p - d·(f-1) - 1) / s) + 1`.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Stride, padding, dilation.
    pub cfg: Conv2dConfig,
}

impl ConvGeometry {
    /// Checks an input shape `[N, H, W, C_in]` and a kernel shape `[C_out, KH, KW, C_in]`
    /// against a configuration, naming `op` in any error.
    pub fn new(op: &str, x: &[usize], k: &[usize], cfg: Conv2dConfig) -> Result<Self> {
        if x.len() != 4 || k.len() != 4 {
            return Err(Error::shapes(
                op,
                x,
                k,
                "the input must be [N, H, W, C_in] and the kernel [C_out, KH, KW, C_in]",
            ));
        }
        if x[3] != k[3] {
            return Err(Error::shapes(
                op,
                x,
                k,
                format!(
                    "channel mismatch: the input has {} channels, the kernel expects {}",
                    x[3], k[3]
                ),
            ));
        }
        let c = cfg;
        if c.stride.0 == 0 || c.stride.1 == 0 || c.dilation.0 == 0 || c.dilation.1 == 0 {
            return Err(Error::invalid(
                op,
                x,
                format!(
                    "stride {:?} and dilation {:?} must be positive",
                    c.stride, c.dilation
                ),
            ));
        }
        if k[1] == 0 || k[2] == 0 || k[0] == 0 {
            return Err(Error::shapes(op, x, k, "the kernel has an empty axis"));
        }
        let span_h = c.dilation.0 * (k[1] - 1) + 1;
        let span_w = c.dilation.1 * (k[2] - 1) + 1;
        let (ph, pw) = (x[1] + 2 * c.padding.0, x[2] + 2 * c.padding.1);
        if span_h > ph || span_w > pw {
            return Err(Error::shapes(
                op,
                x,
                k,
                format!(
                    "the kernel spans {span_h}x{span_w} (with dilation {:?}) but the padded input is only {ph}x{pw}",
                    c.dilation
                ),
            ));
        }
        Ok(ConvGeometry {
            n: x[0],
            h: x[1],
            w: x[2],
            c_in: x[3],
            c_out: k[0],
            kh: k[1],
            kw: k[2],
            oh: (ph - span_h) / c.stride.0 + 1,
            ow: (pw - span_w) / c.stride.1 + 1,
            cfg,
        })
    }

    /// `M`: output positions, the rows of `B`.
    pub fn rows(&self) -> usize {
        self.n * self.oh * self.ow
    }

    /// `K = f_H · f_W · C_in`: the length of one slice `B_ij`, the columns of `B`.
    pub fn patch(&self) -> usize {
        self.kh * self.kw * self.c_in
    }

    /// The output shape `[N, OH, OW, C_out]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.c_out]
    }

    /// Whether `B` is the input itself (1x1 kernel, stride 1, no padding): no im2col needed.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.cfg.stride == (1, 1) && self.cfg.padding == (0, 0)
    }

    /// The input row read by output row `oh` at kernel row `kh`, if inside the image.
    #[inline]
    fn input_row(&self, oh: usize, kh: usize) -> Option<usize> {
        (oh * self.cfg.stride.0 + kh * self.cfg.dilation.0)
            .checked_sub(self.cfg.padding.0)
            .filter(|&r| r < self.h)
    }

    /// The input column read by output column `ow` at kernel column `kw`, if inside.
    #[inline]
    fn input_col(&self, ow: usize, kw: usize) -> Option<usize> {
        (ow * self.cfg.stride.1 + kw * self.cfg.dilation.1)
            .checked_sub(self.cfg.padding.1)
            .filter(|&c| c < self.w)
    }
}

/// im2col: stacks the slices `B_ij` of the input, one row per output position, into the
/// `[M, K]` matrix `B` (zeros where a slice reaches into the padding).
pub fn im2col<T: Element>(x: &[T], g: &ConvGeometry) -> Vec<T> {
    let (k, c) = (g.patch(), g.c_in);
    let mut b = vec![T::ZERO; g.rows() * k];
    for (row, b_ij) in b.chunks_exact_mut(k).enumerate() {
        let (n, oh, ow) = (row / (g.oh * g.ow), row / g.ow % g.oh, row % g.ow);
        for kh in 0..g.kh {
            let Some(ih) = g.input_row(oh, kh) else { continue };
            for kw in 0..g.kw {
                let Some(iw) = g.input_col(ow, kw) else { continue };
                let src = ((n * g.h + ih) * g.w + iw) * c;
                let dst = (kh * g.kw + kw) * c;
                b_ij[dst..dst + c].copy_from_slice(&x[src..src + c]);
            }
        }
    }
    b
}

/// col2im, the adjoint of [`im2col`]: adds each row of `dB` back into the input slice it came
/// from (`dZ_slice,ij += ...`), accumulating where slices overlap.
pub fn col2im<T: Element>(db: &[T], g: &ConvGeometry) -> Vec<T> {
    let (k, c) = (g.patch(), g.c_in);
    let mut dx = vec![T::ZERO; g.n * g.h * g.w * c];
    for (row, db_ij) in db.chunks_exact(k).enumerate() {
        let (n, oh, ow) = (row / (g.oh * g.ow), row / g.ow % g.oh, row % g.ow);
        for kh in 0..g.kh {
            let Some(ih) = g.input_row(oh, kh) else { continue };
            for kw in 0..g.kw {
                let Some(iw) = g.input_col(ow, kw) else { continue };
                let dst = ((n * g.h + ih) * g.w + iw) * c;
                let src = (kh * g.kw + kw) * c;
                for (d, &s) in dx[dst..dst + c].iter_mut().zip(&db_ij[src..src + c]) {
                    *d += s;
                }
            }
        }
    }
    dx
}

/// The convolution as a [`CustomOp`]: inputs `x`, `w` and optionally `b`.
pub struct Conv2dOp {
    cfg: Conv2dConfig,
    geometry: Option<ConvGeometry>,
}

impl Conv2dOp {
    /// An op with this configuration.
    pub fn new(cfg: Conv2dConfig) -> Self {
        Conv2dOp { cfg, geometry: None }
    }
}

impl<T: Element> CustomOp<T> for Conv2dOp {
    fn name(&self) -> &str {
        "conv2d"
    }

    /// `Z = B · Wᵀ + b`.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = ConvGeometry::new("conv2d", x.shape(), w.shape(), self.cfg)?;
        if let Some(b) = inputs.get(2)
            && b.shape() != [g.c_out]
        {
            return Err(Error::shapes(
                "conv2d",
                w.shape(),
                b.shape(),
                format!("the bias must be [{}], one per kernel", g.c_out),
            ));
        }
        let (m, k) = (g.rows(), g.patch());
        let b_mat = if g.is_pointwise() {
            x.clone()
        } else {
            Tensor::from_vec(im2col(x.as_slice(), &g), &[m, k])?
        };
        let mut z = vec![T::ZERO; m * g.c_out];
        gemm(
            MatMut::new(&mut z, m, g.c_out)?,
            false,
            MatRef::new(b_mat.as_slice(), m, k)?,
            MatRef::new(w.as_slice(), g.c_out, k)?.t(),
            T::ONE,
        )?;
        if let Some(b) = inputs.get(2) {
            add_row_vector(&mut z, b.as_slice());
        }
        self.geometry = Some(g);
        saved.save(b_mat);
        saved.save(w.clone());
        Tensor::from_vec(z, &g.output_shape())
    }

    fn backward(&self, saved: &Saved<T>, dz: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let g = self.geometry.expect("forward ran");
        let (m, k, c_out) = (g.rows(), g.patch(), g.c_out);
        let (b_mat, w) = (saved.get(0), saved.get(1));
        let dz_mat = MatRef::new(dz.as_slice(), m, c_out)?;
        // Input: dB = dZ · W, then col2im adds each row of dB into its slice.
        let dx = if needs[0] {
            let mut db_mat = vec![T::ZERO; m * k];
            gemm(
                MatMut::new(&mut db_mat, m, k)?,
                false,
                dz_mat,
                MatRef::new(w.as_slice(), c_out, k)?,
                T::ONE,
            )?;
            let dx = if g.is_pointwise() {
                db_mat
            } else {
                col2im(&db_mat, &g)
            };
            Some(Tensor::from_vec(dx, &[g.n, g.h, g.w, g.c_in])?)
        } else {
            None
        };
        // Kernel: dW_c = Σ_ij dZ_ijc · B_ij, i.e. dW = dZᵀ · B.
        let dw = if needs[1] {
            let mut dw = vec![T::ZERO; c_out * k];
            gemm(
                MatMut::new(&mut dw, c_out, k)?,
                false,
                dz_mat.t(),
                MatRef::new(b_mat.as_slice(), m, k)?,
                T::ONE,
            )?;
            Some(Tensor::from_vec(dw, w.shape())?)
        } else {
            None
        };
        let mut grads = vec![dx, dw];
        // Bias: db_c = Σ_ij dZ_ijc.
        if needs.len() == 3 {
            grads.push(needs[2].then(|| column_sums(dz.as_slice(), c_out)).transpose()?);
        }
        Ok(grads)
    }
}

/// Adds `b` to every row of the row-major matrix `z` (`b` has one entry per column).
pub(crate) fn add_row_vector<T: Element>(z: &mut [T], b: &[T]) {
    for row in z.chunks_exact_mut(b.len()) {
        for (v, &bias) in row.iter_mut().zip(b) {
            *v += bias;
        }
    }
}

/// The sums of the columns of a row-major matrix with `cols` columns, as a `[cols]` tensor.
pub(crate) fn column_sums<T: Element>(z: &[T], cols: usize) -> Result<Tensor<T>> {
    let mut sums = vec![T::ZERO; cols];
    for row in z.chunks_exact(cols) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    Tensor::from_vec(sums, &[cols])
}

/// 2-D convolution (cross-correlation, as PyTorch computes it) of `x` `[N, H, W, C_in]` with
/// kernels `w` `[C_out, KH, KW, C_in]` plus an optional bias `b` `[C_out]`:
/// `Z[n,oh,ow,c] = b_c + Σ_{kh,kw,ci} W[c,kh,kw,ci] · x[n, oh·s - p + kh·d, ow·s - p + kw·d, ci]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::conv::{conv2d, Conv2dConfig};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_fn(&[1, 4, 4, 1], |i| i as f64));
/// let w = tape.var(Tensor::ones(&[2, 3, 3, 1]));
/// let z = conv2d(&x, &w, None, Conv2dConfig::new().padding(1)).unwrap();
/// assert_eq!(z.shape(), &[1, 4, 4, 2]);
/// // The top-left output sums the 2x2 corner that the padded 3x3 window covers.
/// assert_eq!(z.value().get(&[0, 0, 0, 0]).unwrap(), 0.0 + 1.0 + 4.0 + 5.0);
/// ```
pub fn conv2d<'t, T: Element>(
    x: &Var<'t, T>,
    w: &Var<'t, T>,
    b: Option<&Var<'t, T>>,
    cfg: Conv2dConfig,
) -> Result<Var<'t, T>> {
    match b {
        Some(b) => Var::apply(Conv2dOp::new(cfg), &[x, w, b]),
        None => Var::apply(Conv2dOp::new(cfg), &[x, w]),
    }
}
