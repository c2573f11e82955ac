//! The plain terminal's side of the harness commands (the live dashboard is the
//! `dashboard` crate): what a running command draws and prints, and how it stops.
//!
//! - [`bars`]: one progress bar per running trial and one for the plan, drawn by
//!   `indicatif` from the one progress model (the `progress` crate); plain lines when
//!   standard output is not a terminal.
//! - [`reporter`]: the [`experiment::replicate::Reporter`] of `harness replicate`: the
//!   bars, warnings, calibration lines, and signals forwarded to the executor.
//! - [`errors`]: the one line a command's error is printed as.
//! - [`signals`]: how `replicate`, its workers, `train` and `reproduce` stop when asked to.
//!
//! The exit codes these commands end with are `contract::exit`.

pub mod bars;
pub mod errors;
pub mod reporter;
pub mod signals;
