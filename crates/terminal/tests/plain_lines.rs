//! Not on a terminal, the printer writes the lines that matter (start, epochs, end) and
//! none of the per-batch progress, each prefixed with the trial's label.

use contract::Event;
use std::io::Write;
use std::sync::{Arc, Mutex};
use terminal::bars::Printer;

/// A buffer the printer writes into and the test reads back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn started() -> Event {
    Event::Started {
        parameters: 1234,
        train_images: 512,
        test_images: 256,
        batches: 2,
        epochs: 1,
        device: "cpu".into(),
        threads: 1,
    }
}

fn batch() -> Event {
    Event::Batch {
        epoch: 1,
        batch: 1,
        batches: 2,
        loss: 2.25,
        images_per_s: 100.0,
    }
}

#[test]
fn plain_output_has_the_lines_that_matter_and_no_batches() {
    let out = Shared::default();
    let mut printer = Printer::plain(Box::new(out.clone()));
    printer.line("plan: 1 trial");
    printer.own(&started());
    printer.own(&Event::EpochStarted { epoch: 1, lr: 0.01 });
    printer.own(&batch());
    let text = out.text();
    assert!(text.starts_with("plan: 1 trial\n"), "{text}");
    assert!(text.contains("1,234") || text.contains("1234"), "{text}");
    assert!(!text.contains("2.25"), "a batch's loss was printed: {text}");
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn a_trial_s_lines_carry_its_label() {
    let out = Shared::default();
    let mut printer = Printer::plain(Box::new(out.clone()));
    let progress = progress::TrialProgress::default();
    printer.trial("id-a", "abc123 4 conv s0: ", &started(), &progress, None);
    printer.trial("id-a", "abc123 4 conv s0: ", &batch(), &progress, None);
    let text = out.text();
    assert!(!text.is_empty());
    for line in text.lines() {
        assert!(line.starts_with("abc123 4 conv s0: "), "{line}");
    }
}
