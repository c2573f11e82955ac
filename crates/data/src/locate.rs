//! Finding the data folder: flag, environment, user cache, system folder,
//! and as a last resort a download into the user cache.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::download;
use crate::error::DataError;
use crate::kind::FileKind;
pub use crate::origin::Origin;

/// Environment variable naming a data folder.
pub const ENV_DIR: &str = "FASHION_MNIST_DIR";

/// Environment variable overriding the download mirror.
pub const ENV_MIRROR: &str = "FASHION_MNIST_MIRROR";

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The mirror torchvision downloads Fashion-MNIST from.
pub const DEFAULT_MIRROR: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/// A folder holding the four files, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    /// The folder.
    pub dir: PathBuf,
    /// How it was found.
    pub origin: Origin,
}

/// Finds the data folder.
///
/// Resolution order: `explicit` (`--data-dir`), then the environment variable
/// `FASHION_MNIST_DIR`, then the user cache ([`cache_dir`]), then
/// `/usr/share/datasets/fashion-mnist`, and finally a download into the user
/// cache from `mirror` (`None`: the environment variable
/// `FASHION_MNIST_MIRROR` if set, else [`DEFAULT_MIRROR`]).
///
/// A folder "has the data" when it holds each of the four files as `NAME` or
/// `NAME.gz`; file contents are checked when loading. An explicit or
/// environment folder that lacks files is an error, never skipped.
pub fn locate(explicit: Option<&Path>, mirror: Option<&str>) -> Result<DataSource, DataError> {
    let env_mirror = non_empty_env(ENV_MIRROR).map(|m| m.to_string_lossy().into_owned());
    let places = Places {
        env_dir: non_empty_env(ENV_DIR).map(PathBuf::from),
        cache: cache_dir(),
        system: PathBuf::from(SYSTEM_DIR),
        mirror: mirror
            .map(str::to_owned)
            .or(env_mirror)
            .unwrap_or_else(|| DEFAULT_MIRROR.to_owned()),
        download: download::Options::default(),
    };
    locate_in(explicit, &places)
}

/// The user cache folder for the dataset: `$XDG_CACHE_HOME` (or `~/.cache`)
/// joined with `fmnist-harness/fashion-mnist`.
pub fn cache_dir() -> PathBuf {
    let base = non_empty_env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::home_dir().map(|home| home.join(".cache")))
        .unwrap_or_else(|| std::env::temp_dir().join("cache"));
    base.join("fmnist-harness").join("fashion-mnist")
}

/// Base names of the files that `dir` lacks (as both `NAME` and `NAME.gz`).
pub fn missing_files(dir: &Path) -> Vec<String> {
    FileKind::ALL
        .iter()
        .filter(|kind| kind.find_in(dir).is_none())
        .map(|kind| kind.file_name().to_owned())
        .collect()
}

/// Whether `dir` holds all four files.
pub fn has_data(dir: &Path) -> bool {
    missing_files(dir).is_empty()
}

/// The places [`locate`] looks at, resolved from the environment.
#[derive(Debug, Clone)]
pub(crate) struct Places {
    pub(crate) env_dir: Option<PathBuf>,
    pub(crate) cache: PathBuf,
    pub(crate) system: PathBuf,
    pub(crate) mirror: String,
    pub(crate) download: download::Options,
}

/// [`locate`] with its environment made explicit.
pub(crate) fn locate_in(explicit: Option<&Path>, places: &Places) -> Result<DataSource, DataError> {
    let required = [
        (explicit.map(Path::to_path_buf), Origin::Flag),
        (places.env_dir.clone(), Origin::Env),
    ];
    if let Some((dir, origin)) = required
        .into_iter()
        .find_map(|(dir, origin)| dir.map(|d| (d, origin)))
    {
        let missing = missing_files(&dir);
        return if missing.is_empty() {
            Ok(DataSource { dir, origin })
        } else {
            Err(DataError::MissingFiles {
                dir,
                origin: Some(origin),
                missing,
            })
        };
    }
    for (dir, origin) in [
        (&places.cache, Origin::Cache),
        (&places.system, Origin::System),
    ] {
        if has_data(dir) {
            return Ok(DataSource {
                dir: dir.clone(),
                origin,
            });
        }
    }
    download::download_all_with(&places.mirror, &places.cache, &places.download)?;
    Ok(DataSource {
        dir: places.cache.clone(),
        origin: Origin::Downloaded,
    })
}

/// An environment variable, if set and not empty.
fn non_empty_env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_all(dir: &Path) {
        for kind in FileKind::ALL {
            std::fs::write(dir.join(kind.gz_name()), b"").unwrap();
        }
    }

    /// A loopback port nothing listens on (bound, then released).
    fn unused_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn places(root: &Path, env_dir: Option<PathBuf>) -> Places {
        let places = Places {
            env_dir,
            cache: root.join("cache"),
            system: root.join("system"),
            mirror: format!("http://127.0.0.1:{}/", unused_port()),
            download: download::Options {
                backoff: std::time::Duration::from_millis(1),
                ..download::Options::default()
            },
        };
        std::fs::create_dir_all(&places.cache).unwrap();
        std::fs::create_dir_all(&places.system).unwrap();
        places
    }

    #[test]
    fn explicit_dir_wins_and_must_be_complete() {
        let root = tempfile::tempdir().unwrap();
        let places = places(root.path(), None);
        touch_all(&places.system);
        let flag = root.path().join("flag");
        std::fs::create_dir_all(&flag).unwrap();
        std::fs::write(flag.join("train-images-idx3-ubyte"), b"").unwrap();

        let err = locate_in(Some(&flag), &places).unwrap_err();
        match &err {
            DataError::MissingFiles {
                dir,
                origin,
                missing,
            } => {
                assert_eq!(dir, &flag);
                assert_eq!(*origin, Some(Origin::Flag));
                assert_eq!(missing.len(), 3);
                assert!(!missing.contains(&"train-images-idx3-ubyte".to_owned()));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("--data-dir"), "{err}");
        assert!(err.to_string().contains("t10k-labels-idx1-ubyte"), "{err}");

        touch_all(&flag);
        let found = locate_in(Some(&flag), &places).unwrap();
        assert_eq!(found.dir, flag);
        assert_eq!(found.origin, Origin::Flag);
    }

    #[test]
    fn env_dir_comes_next_and_must_be_complete() {
        let root = tempfile::tempdir().unwrap();
        let env = root.path().join("env");
        std::fs::create_dir_all(&env).unwrap();
        let places = places(root.path(), Some(env.clone()));
        touch_all(&places.system);

        let err = locate_in(None, &places).unwrap_err();
        assert!(
            matches!(&err, DataError::MissingFiles { origin: Some(Origin::Env), missing, .. } if missing.len() == 4),
            "{err:?}"
        );
        touch_all(&env);
        let found = locate_in(None, &places).unwrap();
        assert_eq!((found.dir, found.origin), (env, Origin::Env));
    }

    #[test]
    fn cache_before_system_before_download() {
        let root = tempfile::tempdir().unwrap();
        let places = places(root.path(), None);
        touch_all(&places.system);
        let found = locate_in(None, &places).unwrap();
        assert_eq!(
            (found.dir, found.origin),
            (places.system.clone(), Origin::System)
        );

        touch_all(&places.cache);
        let found = locate_in(None, &places).unwrap();
        assert_eq!(
            (found.dir, found.origin),
            (places.cache.clone(), Origin::Cache)
        );
    }

    #[test]
    fn incomplete_cache_and_system_fall_through_to_download() {
        let root = tempfile::tempdir().unwrap();
        let places = places(root.path(), None);
        std::fs::write(places.cache.join("train-images-idx3-ubyte.gz"), b"").unwrap();
        // Nothing listens at the mirror, so the download fails; that it was tried
        // is what this test checks (a successful download is tested in tests/).
        let err = locate_in(None, &places).unwrap_err();
        let message = err.chain_message();
        assert!(message.contains(&places.mirror), "{message}");
        assert!(matches!(err, DataError::RetriesExhausted { .. }), "{err:?}");
    }

    #[test]
    fn cache_dir_ends_with_the_harness_folder() {
        assert!(cache_dir().ends_with("fmnist-harness/fashion-mnist"));
    }
}
