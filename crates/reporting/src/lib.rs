//! From the store's records to what people read: the analysis and markdown of a report
//! ([`report`]), its plots ([`plot`]), the sample-size plan ([`sample_size`]) and the seeding
//! decision ([`seeding`]), the protocol frontier ([`frontier`]), the experiment's latency
//! file ([`latency_file`]), and the exports: CSV ([`csv_export`]), TensorBoard
//! ([`tensorboard_export`]) and committed records ([`archive`]); [`publish`] writes an
//! experiment's report and README section. No libtorch: the
//! dashboard and `harness report` read a store through it.

pub mod archive;
pub mod csv_export;
pub mod frontier;
pub mod latency_file;
pub mod plot;
pub mod publish;
pub mod report;
pub mod sample_size;
pub mod seeding;
pub mod selection;
pub mod tensorboard_export;

/// `1 thread`, `2 threads`: a thread count as the reports print it.
pub(crate) fn threads(n: i32) -> String {
    format!("{n} thread{}", if n == 1 { "" } else { "s" })
}
