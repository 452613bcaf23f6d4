//! Without the `mpi` feature there is no transport: a [`World`] cannot exist, and every
//! [`Context`](super::Context) is the single-process one.

/// Uninhabited: the methods of the MPI world, never called.
pub(crate) enum World {}

impl World {
    pub fn all_reduce_sum<X>(&self, _: &mut [X]) {
        match *self {}
    }

    pub fn all_reduce_min<X>(&self, _: &mut [X]) {
        match *self {}
    }

    pub fn broadcast<X>(&self, _: usize, _: &mut [X]) {
        match *self {}
    }

    pub fn abort(&self, _: i32) -> ! {
        match *self {}
    }
}
