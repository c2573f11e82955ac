//! Where a data folder came from (said in errors and by `harness data info`).

use std::fmt;

/// Where a data folder came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    /// Given explicitly (`--data-dir`).
    Flag,
    /// From the `FASHION_MNIST_DIR` environment variable.
    Env,
    /// Found in the user cache.
    Cache,
    /// Found in the system folder of the Debian package.
    System,
    /// Downloaded into the user cache just now.
    Downloaded,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Flag => "given with --data-dir",
            Origin::Env => "from the environment variable FASHION_MNIST_DIR",
            Origin::Cache => "found in the user cache",
            Origin::System => "found in the system datasets folder",
            Origin::Downloaded => "downloaded into the user cache",
        })
    }
}
