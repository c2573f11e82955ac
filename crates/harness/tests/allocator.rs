//! The harness binary runs on jemalloc with freed pages kept for reuse (see `main.rs`).
//! jemalloc's own statistics report, asked for through `MALLOC_CONF`, proves both that
//! jemalloc (not glibc) serves the process and that the compiled-in options took effect.

use std::process::Command;

fn stats_report() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--version")
        .env("MALLOC_CONF", "stats_print:true")
        .output()
        .expect("run harness");
    assert!(output.status.success(), "harness --version failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_process_allocator_is_jemalloc_keeping_freed_pages() {
    let report = stats_report();
    assert!(
        report.contains("jemalloc statistics"),
        "no jemalloc statistics on stderr, so jemalloc is not the process allocator:\n{report}"
    );
    for option in ["opt.dirty_decay_ms: -1", "opt.muzzy_decay_ms: -1"] {
        assert!(
            report.contains(option),
            "{option} missing: build after scripts/setup.sh, which sets \
             JEMALLOC_SYS_WITH_MALLOC_CONF in .cargo/config.toml\n{report}"
        );
    }
}
