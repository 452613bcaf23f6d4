//! The sizes of a pooling: its configuration (`f`, `s`, `p`) and the geometry of one call,
//! checked; and how the pooling kernels split a batch across threads.

use autograd::runtime::parallel;
use autograd::{Error, Result};

/// Kernel `f`, stride `s` and padding `p` of a pooling layer, each `(along H, along W)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dConfig {
    /// `f`: the window size.
    pub kernel: (usize, usize),
    /// `s`: the step between windows.
    pub stride: (usize, usize),
    /// `p`: padding on each side (at most half the kernel). Max pooling pads with `-∞`,
    /// average pooling with zeros.
    pub padding: (usize, usize),
}

impl Pool2dConfig {
    /// A square `f x f` window with stride `f` (non-overlapping) and no padding.
    pub fn new(f: usize) -> Self {
        Pool2dConfig {
            kernel: (f, f),
            stride: (f, f),
            padding: (0, 0),
        }
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
}

/// The sizes of one pooling, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Batch size.
    pub n: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Output height: `floor((H + 2p - f) / s) + 1`.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel, stride, padding.
    pub cfg: Pool2dConfig,
}

impl PoolGeometry {
    /// Checks an input shape `[N, H, W, C]` against a configuration.
    pub fn new(op: &str, x: &[usize], cfg: Pool2dConfig) -> Result<Self> {
        if x.len() != 4 {
            return Err(Error::invalid(op, x, "the input must be [N, H, W, C]"));
        }
        if x[1] == 0 || x[2] == 0 || x[3] == 0 {
            return Err(Error::invalid(op, x, "H, W and C must be positive (N may be 0)"));
        }
        let (f, s, p) = (cfg.kernel, cfg.stride, cfg.padding);
        if f.0 == 0 || f.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(Error::invalid(
                op,
                x,
                format!("kernel {f:?} and stride {s:?} must be positive"),
            ));
        }
        if 2 * p.0 > f.0 || 2 * p.1 > f.1 {
            return Err(Error::invalid(
                op,
                x,
                format!("padding {p:?} exceeds half the kernel {f:?}"),
            ));
        }
        let (ph, pw) = (x[1] + 2 * p.0, x[2] + 2 * p.1);
        if f.0 > ph || f.1 > pw {
            return Err(Error::invalid(
                op,
                x,
                format!(
                    "the kernel {}x{} is larger than the padded input {ph}x{pw}",
                    f.0, f.1
                ),
            ));
        }
        Ok(PoolGeometry {
            n: x[0],
            h: x[1],
            w: x[2],
            c: x[3],
            oh: (ph - f.0) / s.0 + 1,
            ow: (pw - f.1) / s.1 + 1,
            cfg,
        })
    }

    /// The output shape `[N, OH, OW, C]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.c]
    }

    /// The input rows of window row `oh` that lie inside the image.
    #[inline]
    pub(crate) fn rows(&self, oh: usize) -> std::ops::Range<usize> {
        let start = (oh * self.cfg.stride.0) as isize - self.cfg.padding.0 as isize;
        let end = (start + self.cfg.kernel.0 as isize).min(self.h as isize);
        start.max(0) as usize..end.max(0) as usize
    }

    /// The input columns of window column `ow` that lie inside the image.
    #[inline]
    pub(crate) fn cols(&self, ow: usize) -> std::ops::Range<usize> {
        let start = (ow * self.cfg.stride.1) as isize - self.cfg.padding.1 as isize;
        let end = (start + self.cfg.kernel.1 as isize).min(self.w as isize);
        start.max(0) as usize..end.max(0) as usize
    }
}

/// Runs `sample(n, part)` for every sample `n` of the batch, `part` being its `per_sample`
/// elements of `out` (or a tuple of such parts of several buffers): across the pool's
/// threads when the kernel touches enough `elements` for the hand-off to pay (`2^15`).
pub(crate) fn over_samples<P: Send>(
    parts: impl IntoIterator<Item = P>,
    n: usize,
    elements: usize,
    sample: impl Fn(usize, P) + Sync,
) {
    let split = parallel::worth_splitting(n, elements >= 1 << 15);
    parallel::for_each_part(parts, split, sample);
}
