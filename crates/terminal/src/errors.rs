//! How a command prints the error it ends with: one line, the error and its causes joined
//! by `: `, a cause whose text an earlier one already contains left out: library errors
//! print their source in their own message (`{path}: {source}`), which would otherwise
//! say everything twice ("No such file or directory (os error 2): No such file ...").

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
    fn causes_are_joined_and_repeats_left_out() {
        let inner = Wrapper("disk full", None);
        let repeat = Wrapper("writing record: disk full", Some(Box::new(inner)));
        let outer = Wrapper("trial ab12", Some(Box::new(repeat)));
        assert_eq!(one_line(&outer), "trial ab12: writing record: disk full");
        assert_eq!(one_line(&Wrapper("alone", None)), "alone");
    }
}
