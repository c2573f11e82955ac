//! Integration tests of the `data` crate, as one binary: the real
//! Fashion-MNIST files, property tests of the reader on mutations of them,
//! and downloads from a local HTTP server.

mod download;
mod fuzz_real;
mod real_data;
mod server;
mod util;
