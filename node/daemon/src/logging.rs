//! Logging. Identifiers (Session IDs, peer IDs, addresses) are personal data: logs show them
//! redacted unless the operator starts the daemon with `--log-identifiers`. Message content and
//! key material are never logged at all.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static SHOW_IDENTIFIERS: AtomicBool = AtomicBool::new(false);

/// Chooses whether [`Redacted`] values print in full.
pub fn set_show_identifiers(show: bool) {
    SHOW_IDENTIFIERS.store(show, Ordering::Relaxed);
}

/// Wraps an identifier for logging: `05ab…` (its first four characters) by default, in full
/// when identifiers are enabled.
pub struct Redacted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.0.to_string();
        if SHOW_IDENTIFIERS.load(Ordering::Relaxed) {
            f.write_str(&full)
        } else {
            let head: String = full.chars().take(4).collect();
            write!(f, "{head}…")
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Installs the global subscriber, writing to standard error (with colours only on a
/// terminal): `filter` is a `tracing` env-filter directive (e.g. `info`,
/// `sessiond=debug,libp2p=warn`); `RUST_LOG` overrides it when set.
pub fn init(filter: &str, show_identifiers: bool) {
    set_show_identifiers(show_identifiers);
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // A second init (tests) keeps the first subscriber.
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_default_and_opt_in() {
        let id = "05a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
        set_show_identifiers(false);
        assert_eq!(Redacted(id).to_string(), "05a1…");
        set_show_identifiers(true);
        assert_eq!(Redacted(id).to_string(), id);
        set_show_identifiers(false);
    }
}
