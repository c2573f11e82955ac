//! Running `harness worker` processes, without libtorch: the worker's command line, built
//! in one place for the local executor and for Slurm ([`worker`]), and the Slurm executor
//! ([`slurm`]: the submission of the union of several experiment files as one job array,
//! the batch script, each trial's attempts, the queue, and where each trial stands for
//! `harness status`).

pub mod slurm;
pub mod worker;
