//! The built-in synthetic digit set.
