//! The sizes of a convolution: its configuration (`s`, `p`, dilation) and the geometry of one
//! call, checked against each other (`docs/lecture.md#convolution-forward`).

use autograd::{Error, Result};

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

/// `1 channel`, `3 channels`.
fn channels(n: usize) -> String {
    format!("{n} channel{}", if n == 1 { "" } else { "s" })
}

/// What a channel mismatch most likely means when the shapes come from PyTorch's layouts.
fn layout_hint(x: &[usize], k: &[usize]) -> &'static str {
    if k[1] == x[3] && k[1] != k[2] {
        "; the kernel looks like PyTorch's [C_out, C_in, f_H, f_W]: tapegrad's is \
         [C_out, f_H, f_W, C_in] (w.permute(&[0, 2, 3, 1]), or nn::torch_compat)"
    } else if x[1] == k[3] {
        "; the input looks NCHW ([N, C, H, W]): tapegrad is NHWC ([N, H, W, C]), \
         x.permute(&[0, 2, 3, 1])"
    } else {
        ""
    }
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
                    "channel mismatch: the input has {}, the kernel expects {}{}",
                    channels(x[3]),
                    channels(k[3]),
                    layout_hint(x, k)
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
        if x[1] == 0 || x[2] == 0 || x[3] == 0 {
            return Err(Error::shapes(
                op,
                x,
                k,
                "H, W and C_in must be positive (N may be 0)",
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

    /// Whether `B` is the input itself (1x1 kernel, stride 1, no padding, any dilation).
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.cfg.stride == (1, 1) && self.cfg.padding == (0, 0)
    }

    /// The sizes of one sample's zero-padded input `[H + 2p_H, W + 2p_W, C_in]`: `(H_p, W_p)`.
    pub fn padded(&self) -> (usize, usize) {
        (self.h + 2 * self.cfg.padding.0, self.w + 2 * self.cfg.padding.1)
    }
}
