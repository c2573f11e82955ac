//! The progress of one running trial, rebuilt from its `events.jsonl` (one
//! [`contract::Event`] a line). Everything here is derived from the events alone, never from
//! the clock, so the same file always gives the same picture.

use contract::{EpochMetrics, Event, Status};

/// What the `started` event says.
#[derive(Clone, Debug, PartialEq)]
pub struct StartInfo {
    /// Trainable parameters.
    pub parameters: i64,
    /// Training images per epoch.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Training batches per epoch.
    pub batches: usize,
    /// Epochs planned.
    pub epochs: u32,
    /// Device label, e.g. `cpu`.
    pub device: String,
    /// libtorch intra-op threads.
    pub threads: i32,
}

/// Where a trial is within its run.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Loading data and building the model (no `started` event yet).
    Starting,
    /// Ready; no epoch begun yet.
    Ready,
    /// In the training pass of the current epoch.
    Training {
        /// Batches done.
        batch: usize,
        /// Batches in the epoch.
        batches: usize,
        /// Mean loss of the batches so far.
        loss: f64,
        /// Training images per second so far in this epoch.
        images_per_s: f64,
    },
    /// In the evaluation pass of the current epoch.
    Evaluating,
    /// Between epochs (the current one is evaluated).
    EpochDone,
    /// All epochs done; measuring latency.
    Latency,
    /// The trainer reported the end.
    Finished(Status),
}

/// The state of a running trial.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialProgress {
    /// From the `started` event.
    pub start: Option<StartInfo>,
    /// The current (1-based) epoch; 0 before the first.
    pub epoch: u32,
    /// Learning rate of the current epoch.
    pub lr: f64,
    /// What it is doing.
    pub phase: Phase,
    /// The finished epochs.
    pub epochs: Vec<EpochMetrics>,
    /// Lines that were not events (a corrupt or foreign line), counted.
    pub bad_lines: usize,
}

impl Default for TrialProgress {
    fn default() -> Self {
        TrialProgress {
            start: None,
            epoch: 0,
            lr: f64::NAN,
            phase: Phase::Starting,
            epochs: Vec::new(),
            bad_lines: 0,
        }
    }
}

impl TrialProgress {
    /// Applies one line of `events.jsonl`.
    pub fn apply_line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(event) => self.apply(&event),
            Err(_) => self.bad_lines += 1,
        }
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Started {
                parameters,
                train_images,
                test_images,
                batches,
                epochs,
                device,
                threads,
            } => {
                self.start = Some(StartInfo {
                    parameters: *parameters,
                    train_images: *train_images,
                    test_images: *test_images,
                    batches: *batches,
                    epochs: *epochs,
                    device: device.clone(),
                    threads: *threads,
                });
                self.phase = Phase::Ready;
            }
            Event::EpochStarted { epoch, lr } => {
                self.epoch = *epoch;
                self.lr = *lr;
                self.phase = Phase::Training {
                    batch: 0,
                    batches: self.start.as_ref().map_or(0, |s| s.batches),
                    loss: f64::NAN,
                    images_per_s: f64::NAN,
                };
            }
            Event::Batch {
                epoch,
                batch,
                batches,
                loss,
                images_per_s,
            } => {
                self.epoch = *epoch;
                self.phase = Phase::Training {
                    batch: *batch,
                    batches: *batches,
                    loss: *loss,
                    images_per_s: *images_per_s,
                };
            }
            Event::Evaluating { epoch } => {
                self.epoch = *epoch;
                self.phase = Phase::Evaluating;
            }
            Event::Epoch(m) => {
                self.epoch = m.epoch;
                self.epochs.retain(|e| e.epoch != m.epoch);
                self.epochs.push(m.clone());
                let last = self.start.as_ref().is_some_and(|s| m.epoch >= s.epochs);
                self.phase = if last {
                    Phase::Latency
                } else {
                    Phase::EpochDone
                };
            }
            Event::Latency(_) => self.phase = Phase::Latency,
            Event::Finished { status, .. } => self.phase = Phase::Finished(status.clone()),
            // Where an interrupted trial continues from; its earlier epochs are already here.
            Event::Resumed(_) => {}
        }
    }

    /// Epochs planned, when known.
    pub fn planned_epochs(&self) -> Option<u32> {
        self.start.as_ref().map(|s| s.epochs)
    }

    /// Fraction of the current epoch's training pass done, in `[0, 1]`.
    pub fn epoch_fraction(&self) -> f64 {
        match &self.phase {
            Phase::Training { batch, batches, .. } if *batches > 0 => {
                (*batch as f64 / *batches as f64).clamp(0.0, 1.0)
            }
            Phase::Training { .. } | Phase::Starting | Phase::Ready => 0.0,
            _ => 1.0,
        }
    }

    /// Fraction of the whole trial done (by epochs, the current one counted in part).
    pub fn trial_fraction(&self) -> f64 {
        let Some(total) = self.planned_epochs().filter(|&n| n > 0) else {
            return 0.0;
        };
        let done = self.epochs.len() as f64;
        let current = match self.phase {
            Phase::Training { .. } | Phase::Evaluating => self.epoch_fraction(),
            _ => 0.0,
        };
        ((done + current) / f64::from(total)).clamp(0.0, 1.0)
    }

    /// Training seconds spent in the current epoch so far: images done divided by the
    /// speed the trainer reports.
    pub fn epoch_train_elapsed_s(&self) -> Option<f64> {
        match (&self.phase, &self.start) {
            (
                Phase::Training {
                    images_per_s,
                    batch,
                    batches,
                    ..
                },
                Some(start),
            ) if *images_per_s > 0.0 && *batches > 0 => {
                let done = start.train_images as f64 * *batch as f64 / *batches as f64;
                Some(done / images_per_s)
            }
            _ => None,
        }
    }

    /// Seconds the trial has trained and evaluated: the finished epochs' times plus the
    /// current epoch's training so far (data loading and the evaluation in progress are
    /// not counted).
    pub fn elapsed_s(&self) -> f64 {
        let finished: f64 = self
            .epochs
            .iter()
            .map(|e| e.train_time_s + e.eval_time_s)
            .sum();
        finished + self.epoch_train_elapsed_s().unwrap_or(0.0)
    }

    /// The last finished epoch.
    pub fn last_epoch(&self) -> Option<&EpochMetrics> {
        self.epochs.last()
    }
}

impl TrialProgress {
    /// The command line's text beside a trial's bar: epoch, loss, speed and time left, or what it is doing.
    pub fn status_line(&self, left: Option<std::time::Duration>) -> String {
        let p = self;
        let epochs = p.planned_epochs().unwrap_or(0);
        let left = left.map_or_else(String::new, |d| {
            format!(" ETA {}", crate::format::duration(d.as_secs_f64()))
        });
        match &p.phase {
            Phase::Starting => "loading data, building the model".into(),
            Phase::Ready => format!("ready{left}"),
            Phase::Training { batch: 0, .. } => {
                format!("epoch {}/{epochs} starting{left}", p.epoch)
            }
            Phase::Training {
                loss, images_per_s, ..
            } => format!(
                "epoch {}/{epochs} loss {loss:.4} {}{left}",
                p.epoch,
                crate::format::rate(*images_per_s)
            ),
            Phase::Evaluating => format!("epoch {}/{epochs} evaluating{left}", p.epoch),
            Phase::EpochDone => format!("epoch {}/{epochs} done{left}", p.epoch),
            Phase::Latency => format!("measuring latency{left}"),
            Phase::Finished(_) => "finished".into(),
        }
    }

    /// Batches done over the whole trial, and the trial's batches: the bar's position and length.
    pub fn bar_position(&self) -> (u64, u64) {
        let p = self;
        let Some(start) = &p.start else {
            return (0, 1);
        };
        let batches = start.batches.max(1) as u64;
        let total = batches * u64::from(start.epochs.max(1));
        let done = p.epochs.len() as u64 * batches;
        let current = match &p.phase {
            Phase::Training { batch, .. } => *batch as u64,
            Phase::Evaluating => batches,
            _ => 0,
        };
        ((done + current).min(total), total)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An epoch's metrics with simple numbers.
    pub(crate) fn metrics(epoch: u32, acc: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            lr: 0.01,
            train_loss_mean: 1.0 / f64::from(epoch),
            train_loss_sum: 8.0 / f64::from(epoch),
            test_loss: 1.2 / f64::from(epoch),
            test_accuracy: acc,
            train_time_s: 10.0,
            eval_time_s: 2.0,
            images_per_s: 51.2,
        }
    }

    /// A finished record of 12 s epochs (10 s training, 2 s evaluation) with these
    /// accuracies, and no configuration.
    pub(crate) fn record(accuracies: &[f64]) -> contract::TrialRecord<()> {
        let epochs: Vec<EpochMetrics> = accuracies
            .iter()
            .enumerate()
            .map(|(i, &a)| metrics(i as u32 + 1, a))
            .collect();
        contract::TrialRecord {
            format: contract::RECORD_FORMAT,
            id: "0".repeat(64),
            config_digest: String::new(),
            experiment: "e".into(),
            variant: "v".into(),
            seed: 0,
            dataset_digest: String::new(),
            config: (),
            status: Status::Finished,
            parameters: 1,
            study_parameters: None,
            final_accuracy: accuracies.last().copied(),
            best_accuracy: None,
            best_epoch: None,
            train_loss_sum: None,
            latency: None,
            wall_time_s: 12.0 * epochs.len() as f64,
            epochs,
            provenance: contract::Provenance {
                harness_version: String::new(),
                git_commit: String::new(),
                git_dirty: false,
                tch_version: String::new(),
                libtorch_version: String::new(),
                cuda: String::new(),
                device: "cpu".into(),
                device_name: String::new(),
                threads: 1,
                host: String::new(),
                started_at: String::new(),
                finished_at: String::new(),
            },
        }
    }

    pub(crate) fn started(epochs: u32) -> Event {
        Event::Started {
            parameters: 1234,
            train_images: 512,
            test_images: 256,
            batches: 8,
            epochs,
            device: "cpu".into(),
            threads: 2,
        }
    }

    #[test]
    fn follows_a_trial_through_its_events() {
        let mut p = TrialProgress::default();
        assert_eq!(p.phase, Phase::Starting);
        p.apply(&started(2));
        assert_eq!(p.phase, Phase::Ready);
        p.apply(&Event::EpochStarted { epoch: 1, lr: 0.01 });
        assert_eq!(p.epoch_fraction(), 0.0);
        p.apply(&Event::Batch {
            epoch: 1,
            batch: 2,
            batches: 8,
            loss: 2.0,
            images_per_s: 64.0,
        });
        assert_eq!(p.epoch_fraction(), 0.25);
        assert_eq!(p.trial_fraction(), 0.125);
        // 512 images * 2/8 = 128 images at 64 img/s = 2 s.
        assert_eq!(p.epoch_train_elapsed_s(), Some(2.0));
        assert_eq!(p.elapsed_s(), 2.0);
        p.apply(&Event::Evaluating { epoch: 1 });
        assert_eq!(p.phase, Phase::Evaluating);
        p.apply(&Event::Epoch(metrics(1, 70.0)));
        assert_eq!(p.phase, Phase::EpochDone);
        assert_eq!(p.trial_fraction(), 0.5);
        assert_eq!(p.elapsed_s(), 12.0);
        p.apply(&Event::EpochStarted { epoch: 2, lr: 0.01 });
        p.apply(&Event::Epoch(metrics(2, 80.0)));
        assert_eq!(
            p.phase,
            Phase::Latency,
            "after the last epoch comes latency"
        );
        p.apply(&Event::Finished {
            status: Status::Finished,
            wall_time_s: 30.0,
        });
        assert_eq!(p.phase, Phase::Finished(Status::Finished));
        assert_eq!(p.trial_fraction(), 1.0);
        assert_eq!(p.last_epoch().unwrap().test_accuracy, 80.0);
    }

    #[test]
    fn lines_that_are_not_events_are_counted_not_fatal() {
        let mut p = TrialProgress::default();
        p.apply_line(&serde_json::to_string(&started(3)).unwrap());
        p.apply_line("{\"event\":\"nonsense\"}");
        p.apply_line("");
        p.apply_line("garbage");
        assert_eq!(p.bad_lines, 2);
        assert_eq!(p.planned_epochs(), Some(3));
    }

    #[test]
    fn a_trials_bar_counts_batches_over_all_its_epochs() {
        let mut p = TrialProgress::default();
        assert_eq!(p.bar_position(), (0, 1));
        assert_eq!(p.status_line(None), "loading data, building the model");
        p.apply(&started(2));
        p.apply(&Event::EpochStarted { epoch: 1, lr: 0.01 });
        assert_eq!(p.status_line(None), "epoch 1/2 starting");
        p.apply(&Event::Batch {
            epoch: 1,
            batch: 4,
            batches: 8,
            loss: 0.5,
            images_per_s: 2048.0,
        });
        assert_eq!(p.bar_position(), (4, 16));
        assert_eq!(
            p.status_line(Some(std::time::Duration::from_secs(75))),
            "epoch 1/2 loss 0.5000 2,048 img/s ETA 1:15"
        );
        p.apply(&Event::Evaluating { epoch: 1 });
        assert_eq!(p.bar_position(), (8, 16));
        p.apply(&Event::Epoch(EpochMetrics {
            epoch: 1,
            lr: 0.01,
            train_loss_mean: 0.5,
            train_loss_sum: 4.0,
            test_loss: 0.4,
            test_accuracy: 80.0,
            train_time_s: 1.0,
            eval_time_s: 0.1,
            images_per_s: 512.0,
        }));
        assert_eq!(p.bar_position(), (8, 16));
        assert_eq!(p.status_line(None), "epoch 1/2 done");
        p.apply(&Event::Finished {
            status: Status::Finished,
            wall_time_s: 2.0,
        });
        assert_eq!(p.status_line(None), "finished");
    }
}
