//! The replicate workflow called as a library (`experiment::replicate::run`), as parity and
//! any other caller use it: a small experiment planned, run by real `harness worker`
//! processes on the real dataset, reported, and found complete on a second call that
//! trains nothing; and the request's flags refused before anything is loaded.

mod util;

use experiment::executor::{Control, Report};
use experiment::replicate::{
    self, DataOptions, Jobs, LoadedExperiment, Outcome, ReplicateError, Reporter, Request,
};
use spec::Experiment;
use spec::cost::Calibrating;
use std::path::Path;
use store::Store;
use util::Workspace;

/// Everything the workflow says, kept for the asserts.
#[derive(Default)]
struct Recorded {
    lines: Vec<String>,
    warnings: Vec<String>,
    events: usize,
    running: usize,
    ran: usize,
}

impl Reporter for Recorded {
    fn line(&mut self, text: &str) {
        self.lines.push(text.to_string());
    }
    fn warning(&mut self, text: &str) {
        self.warnings.push(text.to_string());
    }
    fn calibrating(&mut self, c: &Calibrating<'_>) {
        self.lines.push(format!("calibrating {}", c.workload));
    }
    fn schedule(&mut self, report: Report<'_>) {
        match report {
            Report::Line(l) | Report::Warning(l) => self.lines.push(l),
            Report::Event { .. } => self.events += 1,
        }
    }
    fn running(&mut self, _control: Control) -> std::io::Result<()> {
        self.running += 1;
        Ok(())
    }
    fn ran(&mut self) {
        self.ran += 1;
    }
}

fn smoke(ws: &Workspace) -> (std::path::PathBuf, Experiment) {
    let path = ws.join("configs/smoke.ron");
    let e = spec::config::load(&path, &[]).unwrap();
    (path, e)
}

fn request(
    ws: &Workspace,
    experiments: Vec<LoadedExperiment>,
    jobs: Jobs,
    threads: Option<i32>,
) -> Request {
    Request {
        executor: experiment::replicate::Executor::Local {
            device: tch::Device::Cpu,
        },
        experiments,
        overrides: Vec::new(),
        sets: Vec::new(),
        store: Store::new(ws.join("runs")),
        device_arg: "cpu".into(),
        jobs,
        threads,
        max_trial_time: None,
        halfwidth: None,
        alpha: 0.05,
        dry_run: false,
        data: DataOptions {
            dir: None,
            verify: true,
        },
        reports: ws.join("reports"),
        readme: ws.join("README.md"),
        program: Path::new(env!("CARGO_BIN_EXE_harness")).to_path_buf(),
    }
}

#[test]
fn a_small_experiment_replicates_through_the_library() {
    let ws = Workspace::new();
    let (path, e) = smoke(&ws);
    let planned = vec![LoadedExperiment {
        path,
        experiment: e.clone(),
    }];
    let req = request(&ws, planned, Jobs::Count(2), Some(1));

    let mut first = Recorded::default();
    let outcome = replicate::run(&req, &mut first).unwrap();
    assert_eq!(outcome, Outcome::Complete, "{:#?}", first.lines);
    assert!(
        first.lines.iter().any(|l| l
            == "4 trials: 0 done, 0 running elsewhere, 4 to run on cpu (2 job(s) x 1 threads)"),
        "{:#?}",
        first.lines
    );
    assert_eq!(
        (first.running, first.ran),
        (1, 1),
        "one run of the executor"
    );
    assert!(first.events > 0, "the workers' events reached the reporter");
    assert!(first.warnings.is_empty(), "{:#?}", first.warnings);
    let found = req.store.records_for(&e.membership()).unwrap();
    assert_eq!(found.records.len(), 4);
    assert!(found.records.iter().all(|r| r.final_accuracy.is_some()));
    assert!(ws.join("reports/smoke.md").is_file());
    let readme = std::fs::read_to_string(ws.join("README.md")).unwrap();
    assert!(readme.contains("| base |"), "{readme}");
    assert!(
        first
            .lines
            .iter()
            .any(|l| l.starts_with("wrote ") && l.ends_with("smoke.md")),
        "{:#?}",
        first.lines
    );

    // Everything is recorded: the second call trains nothing and is complete too.
    let mut second = Recorded::default();
    assert_eq!(
        replicate::run(&req, &mut second).unwrap(),
        Outcome::Complete
    );
    assert!(
        second
            .lines
            .iter()
            .any(|l| l.starts_with("4 trials: 4 done, 0 running elsewhere, 0 to run")),
        "{:#?}",
        second.lines
    );
    assert_eq!(second.events, 0, "nothing trained");
}

#[test]
fn conflicting_flags_are_refused_before_anything_is_loaded() {
    let ws = Workspace::new();
    let (path, e) = smoke(&ws);
    let one = || {
        vec![LoadedExperiment {
            path: path.clone(),
            experiment: e.clone(),
        }]
    };
    // A store that cannot exist and data that is nowhere: neither is touched.
    let refuse = |req: Request, expected: &str| {
        let mut r = Recorded::default();
        let err = replicate::run(&req, &mut r).unwrap_err();
        assert!(matches!(err, ReplicateError::Request(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(r.lines.is_empty() && r.running == 0, "nothing ran");
        assert!(!ws.join("runs").exists(), "the store was not touched");
    };
    let mut req = request(&ws, one(), Jobs::Auto, Some(2));
    req.data.dir = Some(ws.join("no-data-here"));
    refuse(req, "--jobs auto chooses the threads per job too");
    refuse(request(&ws, one(), Jobs::Count(1), Some(0)), "--threads 0");
    let mut req = request(&ws, one(), Jobs::Count(1), None);
    req.halfwidth = Some(0.2);
    req.experiments.extend(one());
    refuse(req, "--halfwidth takes one experiment file at a time");
    let mut twice = one();
    twice.extend(one());
    refuse(
        request(&ws, twice, Jobs::Count(1), None),
        "both name the experiment `smoke`",
    );
}
