//! `harness plan` end to end: the real binary on a shipped config and an empty store,
//! which must state its assumed standard deviation and plan with the noncentral t.

mod util;

use util::Workspace;

#[test]
fn plan_on_an_empty_store_states_its_assumption() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.join("empty")).unwrap();
    let out = ws.ok(&[
        "plan",
        "configs/smoke.ron",
        "--detect",
        "1",
        "--runs",
        "empty",
    ]);
    assert!(
        out.contains("plan for `smoke`: detect a difference of 1 accuracy points"),
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
fn plan_refuses_a_bad_difference() {
    let ws = Workspace::new();
    let out = ws.run(&[
        "plan",
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
