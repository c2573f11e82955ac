//! `reports/parity.md`: the conditions and the tables.

use super::*;
use statistics::{self as stats, Summary};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use store::record::TrialRecord;

// ------------------------------------------------------------------------- report

/// What both sides ran with, as their records say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions {
    /// Our seeds.
    pub ours_seeds: BTreeSet<u64>,
    /// PyTorch's seeds.
    pub pytorch_seeds: BTreeSet<u64>,
    /// Our libtorch threads.
    pub ours_threads: BTreeSet<i32>,
    /// PyTorch's threads.
    pub pytorch_threads: BTreeSet<i32>,
    /// Our devices, e.g. `cpu (AMD EPYC 7B13)`.
    pub ours_devices: BTreeSet<String>,
    /// PyTorch's devices.
    pub pytorch_devices: BTreeSet<String>,
    /// Our commits (12 digits, `(dirty)` when the checkout had changes).
    pub commits: BTreeSet<String>,
    /// tch versions.
    pub tch: BTreeSet<String>,
    /// libtorch versions.
    pub libtorch: BTreeSet<String>,
    /// torch versions of the reference.
    pub torch: BTreeSet<String>,
    /// torchvision versions of the reference.
    pub torchvision: BTreeSet<String>,
    /// SHA-256 (12 digits) of the reference scripts that ran.
    pub scripts: BTreeSet<String>,
    /// Dataset digests (12 digits), both sides.
    pub datasets: BTreeSet<String>,
    /// Hosts, both sides.
    pub hosts: BTreeSet<String>,
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

impl Conditions {
    /// Gathers the conditions from our records and the reference's runs.
    pub fn gather(ours: &[&TrialRecord], pytorch: &[&ReferenceRun]) -> Conditions {
        let mut c = Conditions::default();
        for r in ours {
            let p = &r.provenance;
            c.ours_seeds.insert(r.seed);
            c.ours_threads.insert(p.threads);
            c.ours_devices
                .insert(format!("{} ({})", p.device, p.device_name));
            c.commits.insert(format!(
                "{}{}",
                short(&p.git_commit),
                if p.git_dirty { " (dirty)" } else { "" }
            ));
            c.tch.insert(p.tch_version.clone());
            c.libtorch.insert(p.libtorch_version.clone());
            c.datasets.insert(short(&r.dataset_digest));
            c.hosts.insert(p.host.clone());
        }
        for run in pytorch {
            c.pytorch_seeds.insert(run.seed);
            c.pytorch_threads.insert(run.threads);
            c.pytorch_devices
                .insert(format!("{} ({})", run.device, run.device_name));
            c.torch.insert(run.torch.clone());
            c.torchvision.insert(run.torchvision.clone());
            c.scripts.insert(short(&run.script_sha256));
            c.datasets.insert(short(&run.dataset_digest));
            c.hosts.insert(run.host.clone());
        }
        c
    }
}

fn join<T: ToString>(items: &BTreeSet<T>) -> String {
    if items.is_empty() {
        return "—".into();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn mean_sd(s: &Option<Summary>, digits: usize) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n < 2 => format!("{:.*}", digits, s.mean),
        Some(s) => format!("{:.*} ± {:.*}", digits, s.mean, digits, s.std),
    }
}

fn count(s: &Option<Summary>) -> usize {
    s.as_ref().map_or(0, |s| s.n)
}

/// The sentence on the final-epoch difference, e.g. `Final epoch (12): ours - PyTorch =
/// +0.05 points, 95% CI [-0.20, +0.30] (Welch, df 3.9, p=0.621): **difference within
/// noise** ...`.
pub fn difference_line(d: &Difference) -> String {
    let head = format!(
        "Final epoch ({}): ours - PyTorch = {:+.2} points",
        d.epoch, d.welch.diff
    );
    match d.ci95 {
        Some((lo, hi)) => {
            let why = match d.verdict {
                ParityVerdict::WithinNoise => format!(
                    "the interval contains 0; the data allow a true difference from {lo:+.2} to {hi:+.2} points, \
                     so this is no evidence of a gap, and no proof of none smaller than that"
                ),
                ParityVerdict::OursHigher => {
                    "the interval lies above 0: our trainer ends higher than PyTorch's".into()
                }
                ParityVerdict::OursLower => {
                    "the interval lies below 0: our trainer ends lower than PyTorch's; look for the difference in the trainer".into()
                }
                _ => String::new(),
            };
            format!(
                "{head}, 95% CI [{lo:+.2}, {hi:+.2}] (Welch, df {:.1}, {}): **{}** ({why}).",
                d.welch.df,
                stats::format_p(d.welch.p_value),
                d.verdict
            )
        }
        None => format!(
            "{head}, no 95% CI: **{}** (n={} ours vs {} PyTorch; {}).",
            d.verdict,
            d.ours.n,
            d.pytorch.n,
            stats::verdict_text(&d.welch, d.pytorch.n, d.ours.n)
        ),
    }
}

/// A learning rate as written in a config (0.0001, not the product's 0.00010000000000000002):
/// ten decimals at most, trailing zeros dropped; smaller rates in scientific notation.
fn lr_text(lr: f64) -> String {
    let fixed = format!("{lr:.10}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    if lr != 0.0 && (trimmed == "0" || trimmed == "-0") {
        format!("{lr:e}")
    } else {
        trimmed.to_string()
    }
}

/// The learning-rate cell of an epoch row: one rate, or the rates that differ.
pub(crate) fn lr_cell(lrs: &[f64]) -> String {
    match lrs {
        [] => "—".into(),
        [one] => lr_text(*one),
        many => format!(
            "{} (differ!)",
            many.iter()
                .map(|&lr| lr_text(lr))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    }
}

/// `reports/parity.md`: the verdict per architecture, the conditions, then per
/// architecture a table per epoch (both sides' test accuracy and training loss, mean ± sd
/// over seeds) and the final-epoch difference with its 95 % interval.
pub fn render(conditions: &Conditions, archs: &[ArchParity]) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Parity with PyTorch\n");
    let _ = writeln!(
        w,
        "Does our trainer (crate `trainer`: its own Adam and SGD, initialisation, batch norm and data path) \
         learn as well as plain PyTorch? Both sides train the same networks with the same settings, \
         several seeds each. PyTorch is `bench/reference/train_reference.py`: `torch.optim.Adam`, \
         `StepLR`, the layers' default initialisation, `nn.CrossEntropyLoss`, a `DataLoader` over PIL \
         images with `ToTensor` and `Normalize((0.2860,), (0.3530,))`.\n"
    );
    let _ = writeln!(
        w,
        "Generated by `harness parity` from the run store: our trials, and the PyTorch runs in its \
         `<experiment>/pytorch/` folder (`runs/{EXPERIMENT}/pytorch/` by default); do not edit.\n"
    );

    let _ = writeln!(w, "## Verdict\n");
    let _ = writeln!(
        w,
        "| architecture | epoch | ours test acc % | PyTorch test acc % | ours - PyTorch [95% CI] | verdict |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for a in archs {
        match a.final_difference() {
            Some(d) => {
                let ci = d.ci95.map_or_else(
                    || "—".to_owned(),
                    |(lo, hi)| format!("[{lo:+.2}, {hi:+.2}]"),
                );
                let _ = writeln!(
                    w,
                    "| {} | {} | {} (n={}) | {} (n={}) | {:+.2} {ci} | {} |",
                    a.arch,
                    d.epoch,
                    mean_sd(&Some(d.ours), 2),
                    d.ours.n,
                    mean_sd(&Some(d.pytorch), 2),
                    d.pytorch.n,
                    d.welch.diff,
                    d.verdict
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "| {} | {} | — | — | — | no finished run on one side |",
                    a.arch, a.settings.epochs
                );
            }
        }
    }
    let _ = writeln!(w);
    // The training loss the same way: the last epoch's difference with its interval, and
    // in how many epochs the interval excludes 0 (a gap that is systematic shows in most).
    let _ = writeln!(
        w,
        "| architecture | epoch | ours train loss | PyTorch train loss | ours - PyTorch [95% CI] | verdict | epochs beyond noise |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    for a in archs {
        let epochs = a.settings.epochs;
        let tested: Vec<Difference> = (1..=epochs).filter_map(|e| a.loss_difference(e)).collect();
        let beyond = tested
            .iter()
            .filter(|d| {
                matches!(
                    d.verdict,
                    ParityVerdict::OursHigher | ParityVerdict::OursLower
                )
            })
            .count();
        match tested.iter().find(|d| d.epoch == epochs) {
            Some(d) => {
                let ci = d.ci95.map_or_else(
                    || "—".to_owned(),
                    |(lo, hi)| format!("[{lo:+.4}, {hi:+.4}]"),
                );
                let _ = writeln!(
                    w,
                    "| {} | {} | {} (n={}) | {} (n={}) | {:+.4} {ci} | {} | {beyond} of {} |",
                    a.arch,
                    d.epoch,
                    mean_sd(&Some(d.ours), 4),
                    d.ours.n,
                    mean_sd(&Some(d.pytorch), 4),
                    d.pytorch.n,
                    d.welch.diff,
                    d.verdict,
                    tested.len()
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "| {} | {epochs} | — | — | — | no finished run on one side | — |",
                    a.arch
                );
            }
        }
    }
    let _ = writeln!(
        w,
        "\nTraining loss: the mean over an epoch's batches of each batch's mean cross-entropy, taken while training; Welch's test per epoch, as for the accuracy. \"Epochs beyond noise\" counts the epochs whose 95% CI excludes 0 (with few seeds per side this test has little power; one run's epochs are correlated, so a side that is higher in every epoch is not independent evidence).\n"
    );

    precision_section(w, archs);

    let _ = writeln!(w, "## Conditions\n");
    let names: Vec<&str> = archs.iter().map(|a| a.arch.as_str()).collect();
    let _ = writeln!(w, "- Architectures: {}", names.join(", "));
    let described: BTreeSet<String> = archs.iter().map(|a| a.settings.describe()).collect();
    if described.len() == 1 {
        let _ = writeln!(
            w,
            "- Settings (both sides, every architecture): {}",
            described.first().expect("one")
        );
    } else {
        for a in archs {
            let _ = writeln!(
                w,
                "- Settings of {} (both sides): {}",
                a.arch,
                a.settings.describe()
            );
        }
    }
    let _ = writeln!(
        w,
        "- Seeds: ours {} ({}); PyTorch {} ({}); the sides share no random stream, so seeds are not paired",
        conditions.ours_seeds.len(),
        join(&conditions.ours_seeds),
        conditions.pytorch_seeds.len(),
        join(&conditions.pytorch_seeds)
    );
    let _ = writeln!(
        w,
        "- Threads: ours {}; PyTorch {}",
        join(&conditions.ours_threads),
        join(&conditions.pytorch_threads)
    );
    let _ = writeln!(
        w,
        "- Device: ours {}; PyTorch {}",
        join(&conditions.ours_devices),
        join(&conditions.pytorch_devices)
    );
    let _ = writeln!(
        w,
        "- Ours: harness commit {}; tch {}; libtorch {}",
        join(&conditions.commits),
        join(&conditions.tch),
        join(&conditions.libtorch)
    );
    let _ = writeln!(
        w,
        "- PyTorch: torch {}; torchvision {}; reference script SHA-256 {}",
        join(&conditions.torch),
        join(&conditions.torchvision),
        join(&conditions.scripts)
    );
    let _ = writeln!(w, "- Dataset digest: {}", join(&conditions.datasets));
    let _ = writeln!(w, "- Host: {}", join(&conditions.hosts));
    let _ = writeln!(w);

    for a in archs {
        let _ = writeln!(w, "## {}\n", a.arch);
        let _ = writeln!(
            w,
            "| epoch | lr | n (ours / PyTorch) | ours test acc % | PyTorch test acc % | Δ acc | ours train loss | PyTorch train loss |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
        let rows = a.rows();
        for r in &rows {
            let delta = match (&r.ours_accuracy, &r.pytorch_accuracy) {
                (Some(o), Some(p)) => format!("{:+.2}", o.mean - p.mean),
                _ => "—".into(),
            };
            let _ = writeln!(
                w,
                "| {} | {} | {} / {} | {} | {} | {delta} | {} | {} |",
                r.epoch,
                lr_cell(&r.lrs),
                count(&r.ours_accuracy),
                count(&r.pytorch_accuracy),
                mean_sd(&r.ours_accuracy, 2),
                mean_sd(&r.pytorch_accuracy, 2),
                mean_sd(&r.ours_loss, 4),
                mean_sd(&r.pytorch_loss, 4),
            );
        }
        let _ = writeln!(w);
        match a.final_difference() {
            Some(d) => {
                let _ = writeln!(w, "{}\n", difference_line(&d));
            }
            None => {
                let _ = writeln!(
                    w,
                    "Final epoch ({}): no comparison, one side has no finished run.\n",
                    a.settings.epochs
                );
            }
        }
        let differ: Vec<String> = rows
            .iter()
            .filter(|r| r.lrs.len() > 1)
            .map(|r| r.epoch.to_string())
            .collect();
        if !differ.is_empty() {
            let _ = writeln!(
                w,
                "**Warning:** the two sides trained with different learning rates in epoch(s) {}: the settings were not mapped faithfully, so these numbers do not compare like with like.\n",
                differ.join(", ")
            );
        }
        for (side, curves) in [("ours", &a.ours), ("PyTorch", &a.pytorch)] {
            let diverged: Vec<String> = curves
                .iter()
                .filter(|c| c.diverged)
                .map(|c| c.seed.to_string())
                .collect();
            if !diverged.is_empty() {
                let _ = writeln!(
                    w,
                    "Diverged ({side}, left out of every mean): seed(s) {}.\n",
                    diverged.join(", ")
                );
            }
        }
    }

    let _ = writeln!(w, "## How to read this\n");
    let _ = writeln!(
        w,
        "Test accuracy is measured after each epoch on the test images; training loss is the mean over \
         the epoch's batches of each batch's mean cross-entropy, taken while training (dropout on, \
         weights moving), the same definition on both sides. Cells are mean ± sample sd over seeds; n \
         counts the runs with a finite value (diverged runs are listed, never averaged). Δ acc is the \
         difference of the means, ours - PyTorch. The final-epoch comparison is Welch's two-sided t-test \
         (unequal variances); its 95% CI is the difference ± t(0.975, Welch df) × the Welch standard \
         error. A CI that contains 0 means no difference is detectable with these seeds; its width says \
         how large a difference the data still allow."
    );
    md
}

/// "bf16 against fp32": for each bf16 architecture whose fp32 twin (the same settings at
/// fp32) is in the report, the final test accuracy of bf16 against fp32 on each side, by
/// the same Welch test. bf16 is used for a table only where ours says "within noise".
fn precision_section(w: &mut String, archs: &[ArchParity]) {
    let pairs: Vec<(&ArchParity, &ArchParity)> = archs
        .iter()
        .filter(|a| a.settings.precision == models::Precision::Bf16)
        .filter_map(|a| {
            let twin = a.settings.at_fp32();
            archs.iter().find(|b| b.settings == twin).map(|b| (a, b))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(w, "## bf16 against fp32\n");
    let _ = writeln!(
        w,
        "| architecture | side | epoch | bf16 test acc % | fp32 test acc % | bf16 - fp32 [95% CI] | verdict |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    for (bf16, fp32) in pairs {
        let epoch = bf16.settings.epochs;
        for (side, a, b) in [
            ("ours", &bf16.ours, &fp32.ours),
            ("PyTorch", &bf16.pytorch, &fp32.pytorch),
        ] {
            let acc = |p: &Point| p.test_accuracy;
            match difference(epoch, &values(a, epoch, acc), &values(b, epoch, acc)) {
                Some(d) => {
                    let ci = d.ci95.map_or_else(
                        || "—".to_owned(),
                        |(lo, hi)| format!("[{lo:+.2}, {hi:+.2}]"),
                    );
                    let verdict = d.verdict.to_string().replace("ours", "bf16");
                    let _ = writeln!(
                        w,
                        "| {} | {side} | {epoch} | {} (n={}) | {} (n={}) | {:+.2} {ci} | {verdict} |",
                        fp32.arch,
                        mean_sd(&Some(d.ours), 2),
                        d.ours.n,
                        mean_sd(&Some(d.pytorch), 2),
                        d.pytorch.n,
                        d.welch.diff,
                    );
                }
                None => {
                    let _ = writeln!(
                        w,
                        "| {} | {side} | {epoch} | — | — | — | no finished run at one precision |",
                        fp32.arch
                    );
                }
            }
        }
    }
    let _ = writeln!(
        w,
        "\nEach side's bf16 runs against its own fp32 runs (Welch's test, 95% interval of the difference). The rule of the tables: bf16 is used for a table only where ours says \"difference within noise\" here.\n"
    );
}
