//! `harness seeds` end to end: the real binary on a shipped config and an empty store,
//! which must state its assumed standard deviation and compute with the noncentral t.

mod util;

use util::Workspace;

#[test]
fn seeds_on_an_empty_store_states_its_assumption() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.join("empty")).unwrap();
    let out = ws.ok(&[
        "seeds",
        "configs/smoke.ron",
        "--detect",
        "1",
        "--runs",
        "empty",
    ]);
    assert!(
        out.contains("seeds for `smoke`: detect a difference of 1 accuracy points"),
        "{out}"
    );
    assert!(out.contains("sd 0.300 points: ASSUMED"), "{out}");
    // smoke has two variants: one comparison, alpha unchanged.
    assert!(
        out.contains("1 comparison(s) against the baseline: α per comparison 0.0500"),
        "{out}"
    );
    // effect 1 / 0.3 = 3.333 sd: statsmodels' TTestIndPower gives n = 2.87 -> 3 seeds.
    assert!(out.contains("effect size 3.333 sd"), "{out}");
    assert!(
        out.contains("seeds needed per variant: 3 (normal approximation: 2)"),
        "{out}"
    );
}

#[test]
fn seeds_refuses_a_bad_difference() {
    let ws = Workspace::new();
    let out = ws.run(&[
        "seeds",
        "configs/smoke.ron",
        "--detect",
        "0",
        "--runs",
        "runs",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--detect 0: the difference to detect must be a positive"),
        "{err}"
    );
}

/// `--assume-sd` is never silently ignored: with trials in the store, the given sd is used
/// and the plan names the store's observed sd beside it; without, the observed one is used.
#[test]
fn seeds_says_which_sd_it_used() {
    let ws = Workspace::new();
    ws.ok(&["replicate", "configs/smoke.ron", "--threads", "1"]);
    let observed = ws.ok(&["seeds", "configs/smoke.ron", "--detect", "1"]);
    assert!(
        observed.contains("points: observed, pooled within"),
        "{observed}"
    );
    let given = ws.ok(&[
        "seeds",
        "configs/smoke.ron",
        "--detect",
        "1",
        "--assume-sd",
        "0.5",
    ]);
    assert!(
        given.contains(
            "sd 0.500 points: GIVEN by --assume-sd (used instead of the store's observed"
        ),
        "{given}"
    );
}

/// The command's name before 2026-12 still works, with the same answer.
#[test]
fn the_old_name_plan_still_answers() {
    let ws = Workspace::new();
    let old = ws.ok(&["plan", "configs/smoke.ron", "--detect", "1"]);
    let new = ws.ok(&["seeds", "configs/smoke.ron", "--detect", "1"]);
    assert_eq!(old, new);
    assert!(old.contains("seeds needed per variant"), "{old}");
}
