//! The IDX file reader (MNIST's format).
