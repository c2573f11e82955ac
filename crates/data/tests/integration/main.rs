//! Integration tests of the `data` crate, as one binary: the real
//! Fashion-MNIST files, and downloads from a local HTTP server.

mod download;
mod real_data;
mod server;
mod util;
