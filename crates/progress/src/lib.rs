//! One progress and ETA model for every view of running trials: the command line's
//! progress bars (`harness replicate`, `harness train`), the scheduler's plan ETA and the
//! dashboard's panels all compute from here, so they never disagree.
//!
//! - [`trial`]: a running trial's state, folded from the trainer's [`contract::Event`]s
//!   (phase, epoch, batches, measured throughput, finished epochs).
//! - [`eta`]: how long an epoch and a trial take ([`eta::Pace`], from finished records or
//!   the trial's own epochs, evaluation counted), what is left of a running trial and of a
//!   plan run over several slots.
//! - [`tracker`]: a plan being run: the estimated length of each trial still to run (the
//!   cost model's, else the pace seen so far) and the running trials' progress.
//! - [`format`]: the text of durations, counts, rates, percentages and bars.
//!
//! Pure: nothing here reads the clock or the disk.

pub mod eta;
pub mod format;
pub mod tracker;
pub mod trial;

pub use eta::Pace;
pub use tracker::PlanTracker;
pub use trial::{Phase, StartInfo, TrialProgress};
