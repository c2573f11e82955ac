//! Temporary: compiles harness's data_cmd.rs against this crate.
#[path = "../../harness/src/data_cmd.rs"]
mod data_cmd;
fn main() -> std::process::ExitCode {
    let arg = std::env::args().nth(1);
    let dir = std::env::args().nth(2).map(std::path::PathBuf::from);
    let result = if arg.as_deref() == Some("info") { data_cmd::info(dir.as_deref()) } else { data_cmd::verify(dir.as_deref()) };
    match result { Ok(c) => c, Err(e) => { eprintln!("error: {e:#}"); std::process::ExitCode::FAILURE } }
}
