//! Downloads from a real HTTP server on 127.0.0.1 serving the real `.gz` files.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use data::download::{LOCK_FILE, Options, download_all_with, file_url, max_download_len};
use data::{DataError, FashionMnist, FileKind};

use crate::server::{Behaviour, Server};
use crate::util::{copy_real, final_and_part, listing, real_gz};

/// Quick retries, short timeouts.
fn options() -> Options {
    Options {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        retries: 3,
        backoff: Duration::from_millis(10),
    }
}

/// A server with the real file of `kind` only, behaving as told.
fn serve_one(kind: FileKind, bytes: Vec<u8>, behaviour: Behaviour) -> Server {
    Server::start(vec![(kind.gz_name(), bytes, behaviour)])
}

/// A folder with every real file except `kind` (so only `kind` is fetched).
fn dest_lacking(kind: FileKind) -> tempfile::TempDir {
    let dest = tempfile::tempdir().unwrap();
    let others: Vec<FileKind> = FileKind::ALL.into_iter().filter(|k| *k != kind).collect();
    copy_real(&others, dest.path());
    dest
}

#[test]
fn downloads_all_four_then_loads_and_verifies() {
    let server = Server::start(
        FileKind::ALL
            .map(|kind| (kind.gz_name(), real_gz(kind), Behaviour::Normal))
            .to_vec(),
    );
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("nested").join("cache");
    download_all_with(&server.url(), &dest, &options()).unwrap();

    let expected: Vec<String> = {
        let mut names = FileKind::ALL.map(|k| k.gz_name()).to_vec();
        names.push(LOCK_FILE.to_owned());
        names.sort();
        names
    };
    assert_eq!(
        listing(&dest),
        expected,
        "no .part left behind, only the (empty) lock file"
    );
    assert_eq!(std::fs::metadata(dest.join(LOCK_FILE)).unwrap().len(), 0);
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r.range.is_none()));

    let data = FashionMnist::load(&dest, true).unwrap();
    assert!(data.verified);
    assert_eq!(data.digest, data::canonical_digest());

    // Everything present and valid: nothing is fetched again.
    download_all_with(&server.url(), &dest, &options()).unwrap();
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn a_file_with_the_wrong_digest_is_deleted_and_named() {
    let kind = FileKind::TrainLabels;
    // Valid gzip, valid IDX structure, one label changed: only the digest can tell.
    let mut raw = data::idx::decode(
        std::path::Path::new("real"),
        &real_gz(kind),
        kind.expected_len(),
    )
    .unwrap();
    raw[100] = (raw[100] + 1) % 10;
    let corrupt = gzip(&raw);
    let server = serve_one(kind, corrupt, Behaviour::Normal);
    let dest = dest_lacking(kind);

    let err = download_all_with(&server.url(), dest.path(), &options()).unwrap_err();
    let url = file_url(&server.url(), kind);
    let DataError::InvalidDownload { url: u, source } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(u, &url);
    let DataError::Digest {
        expected, found, ..
    } = source.as_ref()
    else {
        panic!("unexpected source {source:?}");
    };
    assert_eq!(expected, kind.expected_sha256());
    assert_eq!(found, &data::sha256_hex(&raw));
    let message = err.chain_message();
    for part in [url.as_str(), kind.expected_sha256(), found.as_str()] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
    let (final_path, part) = final_and_part(dest.path(), kind);
    assert!(
        !final_path.exists() && !part.exists(),
        "{:?}",
        listing(dest.path())
    );
    // The other three were present and valid, so they were not fetched.
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_file_with_a_broken_format_is_deleted_and_named() {
    let kind = FileKind::TestLabels;
    let mut bytes = real_gz(kind);
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 32] {
        *byte ^= 0x5a;
    }
    let server = serve_one(kind, bytes, Behaviour::Normal);
    let dest = dest_lacking(kind);

    let err = download_all_with(&server.url(), dest.path(), &options()).unwrap_err();
    assert!(
        matches!(&err, DataError::InvalidDownload { source, .. }
            if matches!(source.as_ref(), DataError::Gzip { .. })),
        "{err:?}"
    );
    let message = err.chain_message();
    assert!(
        message.contains(&file_url(&server.url(), kind)),
        "{message}"
    );
    assert!(message.contains("t10k-labels-idx1-ubyte.gz"), "{message}");
    let (final_path, part) = final_and_part(dest.path(), kind);
    assert!(
        !final_path.exists() && !part.exists(),
        "{:?}",
        listing(dest.path())
    );
}

#[test]
fn a_truncated_response_is_resumed_with_a_range_request() {
    let kind = FileKind::TrainImages;
    let server = serve_one(kind, real_gz(kind), Behaviour::TruncateOnce);
    let dest = dest_lacking(kind);

    download_all_with(&server.url(), dest.path(), &options()).unwrap();

    let requests = server.requests_for(&kind.gz_name());
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    let offset: u64 = requests[1]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("second request without Range: {requests:?}"));
    let len = real_gz(kind).len() as u64;
    assert!(offset > 0 && offset < len, "resumed at {offset} of {len}");

    let (final_path, part) = final_and_part(dest.path(), kind);
    assert_eq!(std::fs::read(&final_path).unwrap(), real_gz(kind));
    assert!(!part.exists());
    assert!(FashionMnist::load(dest.path(), true).unwrap().verified);
}

#[test]
fn a_server_ignoring_range_makes_the_download_restart() {
    let kind = FileKind::TrainLabels;
    let server = serve_one(kind, real_gz(kind), Behaviour::TruncateOnceIgnoreRange);
    let dest = dest_lacking(kind);

    download_all_with(&server.url(), dest.path(), &options()).unwrap();

    let requests = server.requests_for(&kind.gz_name());
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[1].range.is_some(), "the retry asked for a range");
    let (final_path, part) = final_and_part(dest.path(), kind);
    assert_eq!(std::fs::read(&final_path).unwrap(), real_gz(kind));
    assert!(!part.exists());
}

#[test]
fn a_server_that_always_truncates_exhausts_the_retries_and_keeps_the_part() {
    let kind = FileKind::TrainLabels;
    let server = serve_one(kind, real_gz(kind), Behaviour::TruncateAlways);
    let dest = dest_lacking(kind);

    let err = download_all_with(&server.url(), dest.path(), &options()).unwrap_err();
    let url = file_url(&server.url(), kind);
    match &err {
        DataError::RetriesExhausted {
            url: u,
            attempts,
            source,
        } => {
            assert_eq!(u, &url);
            assert_eq!(*attempts, 4);
            assert!(
                matches!(source.as_ref(), DataError::Network { .. }),
                "{source:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = err.chain_message();
    assert!(
        message.contains(&url) && message.contains("4 attempts"),
        "{message}"
    );
    assert_eq!(server.requests_for(&kind.gz_name()).len(), 4);

    // Documented behaviour: the partial file is kept for the next run to resume.
    let (final_path, part) = final_and_part(dest.path(), kind);
    assert!(!final_path.exists());
    let kept = std::fs::read(&part).unwrap();
    let full = real_gz(kind);
    assert!(!kept.is_empty() && kept.len() < full.len());
    assert_eq!(
        kept[..],
        full[..kept.len()],
        "the part is a prefix of the file"
    );

    // A healthy server later completes it from where it stopped.
    drop(server);
    let server = serve_one(kind, full.clone(), Behaviour::Normal);
    download_all_with(&server.url(), dest.path(), &options()).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range, Some(format!("bytes={}-", kept.len())));
    assert_eq!(std::fs::read(&final_path).unwrap(), full);
}

#[test]
fn an_unreachable_server_is_a_clear_network_error() {
    // Bind then release a port so that nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dest = dest_lacking(FileKind::TestLabels);
    let base = format!("http://127.0.0.1:{port}/");
    let err = download_all_with(&base, dest.path(), &options()).unwrap_err();
    assert!(
        matches!(err, DataError::RetriesExhausted { attempts: 4, .. }),
        "{err:?}"
    );
    assert!(
        err.chain_message().contains(&base),
        "{}",
        err.chain_message()
    );
}

#[test]
fn a_missing_file_on_the_server_is_not_retried() {
    let server = Server::start(vec![]);
    let dest = dest_lacking(FileKind::TestImages);
    let err = download_all_with(&server.url(), dest.path(), &options()).unwrap_err();
    assert!(
        matches!(err, DataError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The real `.gz` of `kind` followed by `extra` bytes of junk.
fn padded(kind: FileKind, extra: usize) -> Vec<u8> {
    let mut bytes = real_gz(kind);
    bytes.extend((0..extra).map(|i| (i * 31 % 251) as u8));
    bytes
}

#[test]
fn a_response_announcing_more_than_the_file_can_take_is_rejected_and_nothing_kept() {
    let kind = FileKind::TestLabels;
    let limit = max_download_len(kind);
    let body = padded(kind, 1 << 20);
    let server = serve_one(kind, body.clone(), Behaviour::Normal);
    let dest = dest_lacking(kind);

    let err = download_all_with(&server.url(), dest.path(), &options()).unwrap_err();
    let url = file_url(&server.url(), kind);
    match &err {
        DataError::TooLarge {
            url: u,
            limit: l,
            announced,
        } => {
            assert_eq!(u, &url);
            assert_eq!(*l, limit);
            assert_eq!(*announced, Some(body.len() as u64));
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = err.chain_message();
    let announced = format!("{} bytes announced", body.len());
    let at_most = format!("at most {limit} bytes");
    for part in [url.as_str(), announced.as_str(), at_most.as_str()] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
    let (final_path, part) = final_and_part(dest.path(), kind);
    assert!(
        !final_path.exists() && !part.exists(),
        "{:?}",
        listing(dest.path())
    );
    assert_eq!(server.requests().len(), 1, "not retried");
}

#[test]
fn a_response_streaming_more_than_the_file_can_take_is_cut_off_and_deleted() {
    let kind = FileKind::TestLabels;
    let limit = max_download_len(kind);
    // 4 MiB without a Content-Length: only reading tells how big it is.
    let server = serve_one(kind, padded(kind, 4 << 20), Behaviour::Unannounced);
    let dest = dest_lacking(kind);

    let err = download_all_with(&server.url(), dest.path(), &options()).unwrap_err();
    assert!(
        matches!(&err, DataError::TooLarge { limit: l, announced: None, .. } if *l == limit),
        "{err:?}"
    );
    let message = err.chain_message();
    assert!(
        message.contains(&format!("more than {limit} bytes sent")),
        "{message}"
    );
    assert!(message.contains("partial download deleted"), "{message}");
    let (final_path, part) = final_and_part(dest.path(), kind);
    assert!(
        !final_path.exists() && !part.exists(),
        "{:?}",
        listing(dest.path())
    );
    assert_eq!(server.requests().len(), 1, "not retried");

    // The same server without the junk: a body without a length is fine.
    drop(server);
    let server = serve_one(kind, real_gz(kind), Behaviour::Unannounced);
    download_all_with(&server.url(), dest.path(), &options()).unwrap();
    assert_eq!(std::fs::read(&final_path).unwrap(), real_gz(kind));
}

#[test]
fn a_leftover_part_larger_than_the_file_can_be_is_discarded() {
    let kind = FileKind::TestLabels;
    let server = serve_one(kind, real_gz(kind), Behaviour::Normal);
    let dest = dest_lacking(kind);
    let (final_path, part) = final_and_part(dest.path(), kind);
    std::fs::write(&part, vec![0u8; max_download_len(kind) as usize + 1]).unwrap();

    download_all_with(&server.url(), dest.path(), &options()).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range, None, "started over, not resumed");
    assert_eq!(std::fs::read(&final_path).unwrap(), real_gz(kind));
    assert!(!part.exists());
}

#[test]
fn two_concurrent_first_runs_share_one_download() {
    let server = Server::start(
        FileKind::ALL
            .map(|kind| (kind.gz_name(), real_gz(kind), Behaviour::Normal))
            .to_vec(),
    );
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cache");
    let start = Arc::new(Barrier::new(2));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (url, dest, start) = (server.url(), dest.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                download_all_with(&url, &dest, &options())
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap().unwrap();
    }

    for kind in FileKind::ALL {
        let requests = server.requests_for(&kind.gz_name());
        assert_eq!(requests.len(), 1, "{kind} fetched once: {requests:?}");
        let (final_path, part) = final_and_part(&dest, kind);
        assert_eq!(std::fs::read(&final_path).unwrap(), real_gz(kind));
        assert!(!part.exists());
    }
    let data = FashionMnist::load(&dest, true).unwrap();
    assert!(data.verified);
    assert_eq!(data.digest, data::canonical_digest());
}

#[test]
fn two_concurrent_processes_share_one_download() {
    // The lock is an OS lock, so it also holds between processes: this test binary runs
    // itself twice (the `child_download` entry below) against one server and one cache.
    let server = Server::start(
        FileKind::ALL
            .map(|kind| (kind.gz_name(), real_gz(kind), Behaviour::Normal))
            .to_vec(),
    );
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("cache");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "download::child_download",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_URL, server.url())
                .env(CHILD_DEST, &dest)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("CHILD-DOWNLOAD-OK"), "the child ran: {text}");
    }
    for kind in FileKind::ALL {
        let requests = server.requests_for(&kind.gz_name());
        assert_eq!(requests.len(), 1, "{kind} fetched once: {requests:?}");
        let (final_path, _) = final_and_part(&dest, kind);
        assert_eq!(std::fs::read(&final_path).unwrap(), real_gz(kind));
    }
}

const CHILD_URL: &str = "DATA_TEST_CHILD_URL";
const CHILD_DEST: &str = "DATA_TEST_CHILD_DEST";

/// Run (as a child process, with `--ignored`) by
/// `two_concurrent_processes_share_one_download`; not a test of its own.
#[test]
#[ignore = "a child process of two_concurrent_processes_share_one_download"]
fn child_download() {
    let url =
        std::env::var_os(CHILD_URL).expect("run by two_concurrent_processes_share_one_download");
    let dest =
        std::env::var_os(CHILD_DEST).expect("run by two_concurrent_processes_share_one_download");
    download_all_with(
        url.to_str().unwrap(),
        std::path::Path::new(&dest),
        &options(),
    )
    .unwrap();
    println!("CHILD-DOWNLOAD-OK");
}
