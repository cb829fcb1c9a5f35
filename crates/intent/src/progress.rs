//! Progress reporting hooks: the library says what it is doing, the caller (the CLI's
//! progress bars, or nothing) shows it.

/// Receives progress from long steps. Every method has an empty default.
pub trait Progress: Sync {
    /// A step of unknown length starts (e.g. a spinner `fitting encoders`).
    fn step(&self, name: &str) {
        let _ = name;
    }
    /// A step of `total` units starts (e.g. a bar over prefixes, with a rate).
    fn bar(&self, name: &str, total: u64, unit: &str) {
        let _ = (name, total, unit);
    }
    /// `n` more units of the current bar are done.
    fn inc(&self, n: u64) {
        let _ = n;
    }
    /// The current step is over.
    fn done(&self) {}
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
