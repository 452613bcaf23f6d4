//! Buffer reuse. A training step allocates the same buffers step after step; fresh memory
//! from the operating system costs a page fault per 4 KiB page (about 2 µs each, measured
//! on the CI machines), so tensors return their buffers here when they die, and kernels take
//! their output buffers from here. Buffers are matched by exact length, which is what a loop
//! of identical steps needs.
//!
//! Only buffers of at least [`MIN_POOLED_BYTES`] are kept (smaller ones are cheap to
//! allocate), and at most [`limit`] bytes in all, per element type (see [`set_limit`]).
//!
//! The pool never holds more buffers of a length than were taken from it and are still out:
//! a buffer that was allocated elsewhere (a `to_vec`, say) and handed back when its tensor
//! dies is freed unless a taken one of its length is owed. Otherwise such a buffer, made
//! once per evaluation batch, would add one buffer to the pool each time, and resident
//! memory would grow over a long run (issue #14 measured +0.4 MiB per epoch).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Buffers smaller than this are not pooled.
pub const MIN_POOLED_BYTES: usize = 16 * 1024;

static LIMIT: AtomicUsize = AtomicUsize::new(1 << 30);

/// The most bytes the pool of one element type keeps (default 1 GiB).
pub fn limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// Sets the most bytes the pool of each element type keeps; 0 turns pooling off.
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// A type whose buffers are pooled: the float element types, and `u32` for index buffers
/// (max pooling's argmax mask).
pub trait Pooled: Copy + Default + Send + 'static {
    /// The process-wide pool of free buffers of this type.
    fn pool() -> &'static BufferPool<Self>;
}

macro_rules! pooled {
    ($($t:ty),*) => {$(
        impl Pooled for $t {
            fn pool() -> &'static BufferPool<Self> {
                static POOL: BufferPool<$t> = BufferPool::new();
                &POOL
            }
        }
    )*};
}

pooled!(f32, f64, u32);

/// Free buffers of one element type, by length.
pub struct BufferPool<T> {
    free: Mutex<BTreeMap<usize, Slot<T>>>,
    bytes: AtomicUsize,
}

/// The free buffers of one length, and how many taken ones are still out (owed back).
struct Slot<T> {
    free: Vec<Vec<T>>,
    owed: usize,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            free: Vec::new(),
            owed: 0,
        }
    }
}

impl<T: Pooled> BufferPool<T> {
    /// An empty pool.
    pub const fn new() -> Self {
        BufferPool {
            free: Mutex::new(BTreeMap::new()),
            bytes: AtomicUsize::new(0),
        }
    }

    fn take(&self, len: usize) -> Option<Vec<T>> {
        if len * size_of::<T>() < MIN_POOLED_BYTES {
            return None;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let slot = free.entry(len).or_default();
        // Taken here or allocated by the caller on a miss: either way it is owed back.
        slot.owed += 1;
        let v = slot.free.pop()?;
        self.bytes.fetch_sub(len * size_of::<T>(), Ordering::Relaxed);
        Some(v)
    }

    fn give(&self, v: Vec<T>) {
        let bytes = v.len() * size_of::<T>();
        if bytes < MIN_POOLED_BYTES
            || v.len() != v.capacity()
            || self.bytes.load(Ordering::Relaxed) + bytes > limit()
        {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = free.get_mut(&v.len()).filter(|s| s.owed > 0) else {
            return; // nothing of this length is owed: freed
        };
        slot.owed -= 1;
        slot.free.push(v);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The bytes held now.
    pub fn held_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Overwrites every held buffer with `value`.
    pub fn fill(&self, value: T) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.values_mut()
            .flat_map(|s| s.free.iter_mut())
            .for_each(|v| v.fill(value));
    }

    /// Frees every held buffer.
    pub fn clear(&self) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.bytes.store(0, Ordering::Relaxed);
    }
}

impl<T: Pooled> Default for BufferPool<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A buffer of `len` elements whose values are unspecified (left over from earlier use, or
/// zero): for kernels that overwrite every element.
pub fn take_dirty<T: Pooled>(len: usize) -> Vec<T> {
    T::pool().take(len).unwrap_or_else(|| vec![T::default(); len])
}

/// A buffer of `len` zeros (`T::default()`).
pub fn take_zeroed<T: Pooled>(len: usize) -> Vec<T> {
    match T::pool().take(len) {
        Some(mut v) => {
            v.fill(T::default());
            v
        }
        None => vec![T::default(); len],
    }
}

/// A buffer holding `f(i)` at every position `i`.
pub fn take_from_fn<T: Pooled>(len: usize, mut f: impl FnMut(usize) -> T) -> Vec<T> {
    let mut v = take_dirty(len);
    for (i, x) in v.iter_mut().enumerate() {
        *x = f(i);
    }
    v
}

/// Returns a buffer for reuse (tensors do this themselves when they die).
pub fn recycle<T: Pooled>(v: Vec<T>) {
    T::pool().give(v);
}

/// The bytes the pool of `T` holds now.
pub fn held_bytes<T: Pooled>() -> usize {
    T::pool().held_bytes()
}

/// Frees every buffer the pool of `T` holds.
pub fn clear<T: Pooled>() {
    T::pool().clear();
}

/// Overwrites every buffer the pool of `T` holds with `value`: a test that kernels never read
/// what a reused buffer held (fill with NaN, run, compare with a run without pooling).
pub fn fill_held<T: Pooled>(value: T) {
    T::pool().fill(value);
}

/// Room to allocate past a buffer's length so that its data can start at a cache-line
/// boundary (see [`line_offset`]).
pub const LINE_PAD: usize = 16;

/// The elements from the start of `v` to its first 64-byte (cache-line) boundary, at most
/// [`LINE_PAD`]. Kernels that load whole vector registers from a buffer (rows of 16 or more
/// values) start its data there: a load that straddles two lines costs the CPU two, and the
/// allocator only aligns to 16 bytes (measured: the direct convolution kernel ran 10-12%
/// faster on a line-aligned kernel).
///
/// ```
/// use autograd::runtime::buffer::{LINE_PAD, line_offset};
/// let v = vec![0.0f32; 256 + LINE_PAD];
/// let at = line_offset(&v);
/// assert_eq!(v[at..].as_ptr() as usize % 64, 0);
/// ```
pub fn line_offset<T>(v: &[T]) -> usize {
    v.as_ptr().align_offset(64).min(LINE_PAD)
}
