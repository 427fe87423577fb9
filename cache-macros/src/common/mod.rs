//! Pieces every attribute shares: the error collector, option slots, durations, key templates,
//! the function's signature, and how the user's item is kept on error.

pub(crate) mod async_trait;
pub(crate) mod attribute;
pub(crate) mod duration;
pub(crate) mod errors;
pub(crate) mod key;
pub(crate) mod options;
pub(crate) mod order;
pub(crate) mod output;
pub(crate) mod signature;
pub(crate) mod slot;
pub(crate) mod suggest;
pub(crate) mod template;
