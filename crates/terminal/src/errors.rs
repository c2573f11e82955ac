//! How a command prints the error it ends with: one line, the error and its causes joined
//! by `: `, a cause whose text an earlier one already contains left out: library errors
//! print their source in their own message (`{path}: {source}`), which would otherwise
//! say everything twice ("No such file or directory (os error 2): No such file ...").
//!
//! Standard output closed or full: a closed pipe (`harness status | head -1`) ends the
//! command quietly with exit 0, as `rg` and `git log` do; any other write error on standard
//! output (`> /dev/full`) is one line on standard error and exit 1. [`install_stdout_hook`]
//! turns `println!`'s panic into that; [`closed_pipe`] finds a closed pipe in an error
//! that came back through `?`.

/// The exit code of a command whose standard output was closed under it (0: the reader
/// has what it wanted, as with `rg foo | head -1`).
pub const CLOSED_PIPE_EXIT: i32 = 0;

/// The exit code of a command that could not write its standard output (a full disk,
/// `/dev/full`): the general failure.
pub const STDOUT_FAILED_EXIT: i32 = 1;

/// What ends a command whose write to standard output failed with `err`: the line to
/// print on standard error (none for a closed pipe) and the exit code.
pub fn stdout_failure(err: &std::io::Error) -> (Option<String>, i32) {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        (None, CLOSED_PIPE_EXIT)
    } else {
        (
            Some(format!("error: cannot write to standard output: {err}")),
            STDOUT_FAILED_EXIT,
        )
    }
}

/// Whether `err`, or one of its causes, is a closed pipe (`EPIPE`).
pub fn closed_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e| e.source()).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Replaces `println!`'s panic on a failed write to standard output ("failed printing to
/// stdout: ...") by [`stdout_failure`]'s ending: quiet exit 0 for a closed pipe, one line
/// and exit 1 otherwise. Every other panic keeps the default hook.
pub fn install_stdout_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied());
        if let Some(reason) = message.and_then(|m| m.strip_prefix("failed printing to stdout: ")) {
            let closed = reason.contains("Broken pipe") || reason.contains("os error 32");
            if closed {
                std::process::exit(CLOSED_PIPE_EXIT);
            }
            eprintln!("error: cannot write to standard output: {reason}");
            std::process::exit(STDOUT_FAILED_EXIT);
        }
        default(info);
    }));
}

/// The error and its sources as one line.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    for cause in std::iter::successors(Some(err), |e| e.source()) {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug)]
    struct Wrapper(&'static str, Option<Box<Wrapper>>);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn a_closed_pipe_is_quiet_and_a_full_disk_is_one_line() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(super::stdout_failure(&pipe), (None, 0));
        let full = std::io::Error::from_raw_os_error(28);
        let (line, code) = super::stdout_failure(&full);
        assert_eq!(code, 1);
        assert!(
            line.unwrap()
                .starts_with("error: cannot write to standard output: No space")
        );
        assert!(super::closed_pipe(&pipe));
        assert!(!super::closed_pipe(&full));
    }

    #[test]
    fn causes_are_joined_and_repeats_left_out() {
        let inner = Wrapper("disk full", None);
        let repeat = Wrapper("writing record: disk full", Some(Box::new(inner)));
        let outer = Wrapper("trial ab12", Some(Box::new(repeat)));
        assert_eq!(one_line(&outer), "trial ab12: writing record: disk full");
        assert_eq!(one_line(&Wrapper("alone", None)), "alone");
    }
}
