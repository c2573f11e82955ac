//! Stein's two-stage rule: how many seeds a variant needs for a confidence interval of its
//! mean with a given half-width, decided from a pilot's spread alone.
//!
//! Run a pilot of `n0` seeds, take its standard deviation `s0`, and run
//! `N = max(n0, floor((t_{1-α/2, n0-1} s0 / W)²) + 1)` seeds in all. The interval
//! `mean_N ± t_{1-α/2, n0-1} s0 / sqrt(N)` then has half-width at most `W` and coverage
//! exactly `1 - α` for normal data, whatever the true standard deviation (Stein 1945): `N`
//! depends only on the pilot's spread, never on the means, so it cannot be steered towards
//! a wanted p-value. (The persisted decision and its report line are `reporting::seeding`.)

/// Seeds above this are refused as a sign of a mistaken `W`.
pub const MAX_SEEDS: f64 = 100_000.0;

/// The outcome of Stein's rule for one pilot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteinN {
    /// Pilot size.
    pub n0: usize,
    /// The pilot's sample standard deviation.
    pub pilot_sd: f64,
    /// `t_{1-α/2, n0-1}`.
    pub t: f64,
    /// Total seeds, pilot included (`>= n0`).
    pub total_n: usize,
}

impl SteinN {
    /// The half-width of Stein's interval once all `total_n` seeds ran:
    /// `t s0 / sqrt(N)` (at most the requested `W`).
    pub fn halfwidth(&self) -> f64 {
        self.t * self.pilot_sd / (self.total_n as f64).sqrt()
    }
}

/// Why Stein's rule gives no `N`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SteinError {
    /// The pilot has fewer than two values.
    #[error("Stein's rule needs a pilot of at least 2 seeds per variant, got {0}")]
    PilotTooSmall(usize),
    /// The pilot holds a non-finite value (a diverged trial's accuracy).
    #[error("the pilot holds a non-finite value")]
    NonFinite,
    /// The half-width is not a positive finite number.
    #[error("--halfwidth {0}: must be a positive number of accuracy points")]
    Halfwidth(f64),
    /// Alpha is not in (0, 1).
    #[error("alpha {0}: must be between 0 and 1")]
    Alpha(f64),
    /// The rule asks for an absurd number of seeds.
    #[error("Stein's rule asks for {0:.0} seeds (pilot sd too large for the half-width)")]
    TooMany(f64),
}

/// Stein's two-stage rule: the total seeds `N` for a `1 - alpha` confidence interval of
/// the mean with half-width at most `halfwidth`, from the pilot values `pilot`
/// (`n0 = pilot.len() >= 2`). A constant pilot gives `N = n0`.
pub fn total_n(pilot: &[f64], halfwidth: f64, alpha: f64) -> Result<SteinN, SteinError> {
    if pilot.len() < 2 {
        return Err(SteinError::PilotTooSmall(pilot.len()));
    }
    if !(halfwidth.is_finite() && halfwidth > 0.0) {
        return Err(SteinError::Halfwidth(halfwidth));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(SteinError::Alpha(alpha));
    }
    let s = crate::summarize(pilot).ok_or(SteinError::NonFinite)?;
    if !s.std.is_finite() {
        return Err(SteinError::NonFinite);
    }
    let n0 = pilot.len();
    let t = crate::t_quantile(1.0 - alpha / 2.0, (n0 - 1) as f64);
    let raw = (t * s.std / halfwidth).powi(2);
    if !raw.is_finite() || raw > MAX_SEEDS {
        return Err(SteinError::TooMany(raw));
    }
    let total_n = n0.max(raw.floor() as usize + 1);
    Ok(SteinN {
        n0,
        pilot_sd: s.std,
        t,
        total_n,
    })
}
