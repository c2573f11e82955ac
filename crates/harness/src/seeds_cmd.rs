//! `harness seeds`: how many seeds per variant an experiment needs to detect a given
//! difference, with its multiple-comparison correction, from the standard deviation the
//! store has observed (or a stated assumption), by the noncentral t
//! ([`reporting::sample_size::sample_size`]).

use crate::cli::SeedsArgs;
use crate::common;
use std::process::ExitCode;

/// Prints the seeds needed and why.
pub fn run(args: SeedsArgs) -> anyhow::Result<ExitCode> {
    let experiment = common::experiment(&args.config, &[], None)?;
    let records = crate::report_cmd::records(&crate::common::store(&args.runs)?, &experiment)?;
    let needed = reporting::sample_size::sample_size(
        &experiment,
        &records,
        args.detect,
        args.alpha,
        args.power,
        args.assume_sd,
    )?;
    print!(
        "{}",
        reporting::sample_size::text(&needed, &experiment.name)
    );
    Ok(ExitCode::SUCCESS)
}
