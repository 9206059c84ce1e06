//! SIGINT / SIGTERM: the first one asks the run to stop after the batch in flight (state is then saved and the
//! process exits 130 / 143); a second one ends the process at once.
//!
//! Takes nothing; returns a [`Signals`] handle the push sink polls. Never does work inside the handler itself:
//! it only sets a flag (signal-hook).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The signals a run listens to.
#[derive(Debug, Clone)]
pub struct Signals {
    which: Arc<AtomicUsize>,
}

impl Signals {
    /// Installs the handlers (idempotent enough for one run per process).
    #[must_use]
    pub fn install() -> Self {
        let which = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // A second signal while the first is being handled exits at once with the conventional code.
            let code = 128 + sig;
            let _ = signal_hook::flag::register_conditional_shutdown(sig, code, Arc::clone(&armed));
            let _ = signal_hook::flag::register(sig, Arc::clone(&armed));
            #[expect(clippy::cast_sign_loss, reason = "signal numbers are positive")]
            let _ = signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize);
        }
        Self { which }
    }

    /// A handle that never fires (tests, library use).
    #[must_use]
    pub fn none() -> Self {
        Self {
            which: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The signal received, if any (2 = SIGINT, 15 = SIGTERM).
    #[must_use]
    pub fn received(&self) -> Option<i32> {
        match self.which.load(Ordering::SeqCst) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }
}
