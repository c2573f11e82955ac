//! Where each field of a RON text is written (its line), for errors that name file, line
//! and field.

use std::collections::BTreeMap;

/// Where each field is written in a RON text: the 1-based line of every `key:` by its dotted
/// path from the top (`seeds`, `base.model.dropout`, `variants.2.set.model.dropout`,
/// `variants.2.study.accuracy`; list elements by index, `variants.2` is where the third
/// variant starts). A small scanner that knows RON's strings, raw strings, characters and
/// comments; it never fails, and a path it did not see has no line.
#[derive(Debug, Default)]
pub struct Layout {
    lines: BTreeMap<String, usize>,
}

/// One open bracket while scanning.
struct Frame {
    /// Dotted path of this bracket's content, with a trailing `.` (empty at the top).
    prefix: String,
    /// A list (`[...]`): its elements are numbered.
    list: bool,
    /// Index of the current element of a list.
    index: usize,
    /// Whether the current element of a list has begun.
    started: bool,
    /// The key whose value is being read.
    key: Option<String>,
}

impl Frame {
    fn new(prefix: String, list: bool) -> Self {
        Frame {
            prefix,
            list,
            index: 0,
            started: false,
            key: None,
        }
    }
}

impl Layout {
    pub fn scan(text: &str) -> Layout {
        let bytes = text.as_bytes();
        let mut layout = Layout::default();
        let mut frames = vec![Frame::new(String::new(), false)];
        // A word or string just read, that becomes a key if a `:` follows.
        let mut pending: Option<(String, usize)> = None;
        let mut line = 1;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let token_line = line;
            // Strings, raw strings, characters and comments: skipped, newlines counted.
            if b == b'"' || ((b == b'r' || b == b'b') && is_raw_string_start(&bytes[i..])) {
                let (end, content) = skip_string(bytes, i, &mut line);
                layout.element(&mut frames, token_line);
                pending = Some((content, token_line));
                i = end;
                continue;
            }
            if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if bytes[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
                continue;
            }
            match b {
                b'\n' => line += 1,
                b'(' | b'[' | b'{' => {
                    layout.element(&mut frames, token_line);
                    let top = frames.last().expect("the top frame is never popped");
                    let prefix = match &top.key {
                        Some(key) => format!("{}{key}.", top.prefix),
                        None if top.list => format!("{}{}.", top.prefix, top.index),
                        None => top.prefix.clone(),
                    };
                    frames.push(Frame::new(prefix, b == b'['));
                    pending = None;
                }
                b')' | b']' | b'}' => {
                    if frames.len() > 1 {
                        frames.pop();
                    }
                    pending = None;
                }
                b',' => {
                    let top = frames.last_mut().expect("the top frame is never popped");
                    top.key = None;
                    if top.list && top.started {
                        top.index += 1;
                        top.started = false;
                    }
                    pending = None;
                }
                b':' => {
                    if let Some((key, key_line)) = pending.take() {
                        let top = frames.last_mut().expect("the top frame is never popped");
                        let path = format!("{}{key}", top.prefix);
                        layout.lines.entry(path).or_insert(key_line);
                        top.key = Some(key);
                    }
                }
                b'\'' => {
                    // A character literal: skip to its closing quote on this line.
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'\'' && bytes[i] != b'\n' {
                        if bytes[i] == b'\\' && bytes.get(i + 1).is_some_and(|&c| c != b'\n') {
                            i += 1;
                        }
                        i += 1;
                    }
                    if bytes.get(i) == Some(&b'\'') {
                        i += 1;
                    }
                    pending = None;
                    continue;
                }
                _ if is_word(b) => {
                    let start = i;
                    while i < bytes.len() && is_word(bytes[i]) {
                        i += 1;
                    }
                    layout.element(&mut frames, token_line);
                    let word = String::from_utf8_lossy(&bytes[start..i]).into_owned();
                    pending = Some((word, token_line));
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        layout
    }

    /// Notes the start of a list element at `line` if one begins here.
    fn element(&mut self, frames: &mut [Frame], line: usize) {
        if let Some(top) = frames.last_mut()
            && top.list
            && !top.started
        {
            top.started = true;
            let path = format!("{}{}", top.prefix, top.index);
            self.lines.entry(path).or_insert(line);
        }
    }

    /// The line of `path`, or 0 when it is not written.
    pub fn line(&self, path: &str) -> usize {
        self.lines.get(path).copied().unwrap_or(0)
    }

    /// The line of `path`, else of its closest written parent, else 0.
    pub fn line_or_parent(&self, path: &str) -> usize {
        let mut path = path;
        loop {
            if let Some(&line) = self.lines.get(path) {
                return line;
            }
            match path.rfind('.') {
                Some(dot) => path = &path[..dot],
                None => return 0,
            }
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-')
}

/// Whether `rest` starts a raw or byte string: `r"`, `r#`, `b"`, `br"`, `br#`.
fn is_raw_string_start(rest: &[u8]) -> bool {
    matches!(
        rest,
        [b'r', b'"' | b'#', ..] | [b'b', b'"', ..] | [b'b', b'r', b'"' | b'#', ..]
    )
}

/// Skips the string starting at `start` (plain, byte or raw); returns the offset after it
/// and its content (escapes left as written).
fn skip_string(bytes: &[u8], start: usize, line: &mut usize) -> (usize, String) {
    let mut i = start;
    if bytes.get(i) == Some(&b'b') {
        i += 1;
    }
    let raw = bytes.get(i) == Some(&b'r');
    if raw {
        i += 1;
    }
    let mut hashes = 0;
    while raw && bytes.get(i) == Some(&b'#') {
        hashes += 1;
        i += 1;
    }
    if bytes.get(i) != Some(&b'"') {
        // `r#` without a quote: not a string after all.
        return (i.max(start + 1), String::new());
    }
    i += 1;
    let content_start = i;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => *line += 1,
            b'\\' if !raw => {
                if bytes.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                i += 1;
            }
            b'"' => {
                let closes = bytes.len() - (i + 1) >= hashes
                    && bytes[i + 1..i + 1 + hashes].iter().all(|&h| h == b'#');
                if closes {
                    let content = String::from_utf8_lossy(&bytes[content_start..i]).into_owned();
                    return (i + 1 + hashes, content);
                }
            }
            _ => {}
        }
        i += 1;
    }
    let end = bytes.len();
    let content = String::from_utf8_lossy(&bytes[content_start.min(end)..end]).into_owned();
    (end, content)
}
