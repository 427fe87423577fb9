//! What the library logs reaches a person: warnings and errors on stderr by default, `RUST_LOG`
//! (`RUST_LOG=cache_runtime=debug`, `RUST_LOG=info` …) to see more or less.

use tracing_subscriber::EnvFilter;

/// Installs the examples' subscriber: `RUST_LOG` if set, else `warn`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
