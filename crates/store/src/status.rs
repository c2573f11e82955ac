//! Where a trial stands, in the one vocabulary every view uses.

/// Where one trial of a plan stands, as every view says it: the dashboard's grid, `harness
/// status` and the plan's counts. [`TrialState`] is the store's own three-way answer
/// (done, held, free); this adds what a record or an executor knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrialStatus {
    /// Not started, or stopped before it finished (the next run resumes it).
    Pending,
    /// Submitted to a cluster and waiting there.
    Queued,
    /// A live process holds its claim.
    Running,
    /// Finished: its record exists.
    Done,
    /// Recorded as diverged (a non-finite loss).
    Diverged,
    /// Failed: left incomplete by a process that failed or was killed, or failed its
    /// cluster task too often.
    Failed,
}

impl TrialStatus {
    /// The word every view uses.
    pub fn label(self) -> &'static str {
        match self {
            TrialStatus::Pending => "not run",
            TrialStatus::Queued => "queued",
            TrialStatus::Running => "running",
            TrialStatus::Done => "done",
            TrialStatus::Diverged => "diverged",
            TrialStatus::Failed => "failed",
        }
    }

    /// Whether the trial has a record (finished or diverged).
    pub fn is_recorded(self) -> bool {
        matches!(self, TrialStatus::Done | TrialStatus::Diverged)
    }
}
