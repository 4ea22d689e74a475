//! loom models (see README)
