//! trybuild cases for the attributes; see `tests/ui.rs`.
