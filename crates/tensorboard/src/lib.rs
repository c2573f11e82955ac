//! TensorBoard event files, written without TensorFlow: scalars and HParams sessions.
//!
//! An event file is a sequence of records (the TFRecord framing): a little-endian `u64`
//! length, the masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the
//! data ([`frame`], [`masked_crc32c`]). Each record's data is a protobuf [`proto::Event`];
//! the first one carries the file version `brain.Event:2`. TensorBoard reads every file
//! whose name contains `tfevents` in a run's folder; [`EventWriter`] names its file
//! `events.out.tfevents.<unix seconds>.<host>` as TensorFlow does.
//!
//! Besides scalars and HParams sessions it writes the custom scalars plugin's layout
//! ([`EventWriter::custom_scalars_layout`]), e.g. margin charts that draw a band.
//!
//! No maintained crate fits: `tensorboard-rs` is unmaintained, pulls protobuf 2 and has no
//! HParams. The few messages needed are derived with `prost` by hand ([`proto`], no
//! `protoc`); their field numbers were checked against the descriptors shipped in the
//! `tensorboard` 2.21.0 wheel (`tensorboard/compat/proto/{event,summary,tensor}.proto`,
//! `tensorboard/plugins/hparams/{plugin_data,api}.proto`).
//!
//! ```
//! # fn main() -> Result<(), tensorboard::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let mut w = tensorboard::EventWriter::create(dir.path(), "host", 1.7e9)?;
//! w.scalar("accuracy/test", 1, 1.7e9 + 20.0, 81.5)?;
//! let path = w.finish()?;
//! let events = tensorboard::read_events(&path)?;
//! assert_eq!(events.len(), 2); // the file version, then the scalar
//! # Ok(()) }
//! ```

pub mod proto;

use prost::Message;
use proto::{
    Event, HParamsPluginData, Layout, PluginData, SessionEndInfo, SessionStartInfo, Summary,
    SummaryMetadata, SummaryValue, TensorProto, TensorShapeProto, event, hparams_plugin_data,
    summary_value, tensor_shape_proto,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The file version of the first event of every event file.
pub const FILE_VERSION: &str = "brain.Event:2";

/// The scalars plugin's name in summary metadata.
pub const SCALARS_PLUGIN: &str = "scalars";
/// The custom scalars plugin's name in summary metadata.
pub const CUSTOM_SCALARS_PLUGIN: &str = "custom_scalars";
/// Tag of the custom scalars plugin's layout (`CONFIG_SUMMARY_TAG` in its `metadata.py`).
pub const CUSTOM_SCALARS_LAYOUT_TAG: &str = "custom_scalars__config__";
/// The HParams plugin's name in summary metadata.
pub const HPARAMS_PLUGIN: &str = "hparams";
/// Version of the HParams plugin data (`PLUGIN_DATA_VERSION` in its `metadata.py`).
pub const HPARAMS_PLUGIN_DATA_VERSION: i32 = 0;
/// Tag of a session's start information (its hyper-parameters and group).
pub const SESSION_START_INFO_TAG: &str = "_hparams_/session_start_info";
/// Tag of a session's end information (its status).
pub const SESSION_END_INFO_TAG: &str = "_hparams_/session_end_info";

/// What can go wrong writing or reading an event file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A record is cut short or its checksum does not match.
    #[error("record at byte {offset}: {what}")]
    Corrupt {
        /// Where the record starts.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// A record's data is not a valid event.
    #[error("record at byte {offset}: not an Event: {source}")]
    Decode {
        /// Where the record starts.
        offset: usize,
        /// The protobuf decoder's error.
        #[source]
        source: prost::DecodeError,
    },
}

/// Decodes a serialised custom scalars [`Layout`] (the string tensor that
/// [`EventWriter::custom_scalars_layout`] writes).
pub fn decode_layout(bytes: &[u8]) -> Result<Layout, prost::DecodeError> {
    Layout::decode(bytes)
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The CRC32C of `data`, masked as TFRecord stores it: rotated right by 15 bits plus
/// `0xa282ead8` (so that a CRC of data holding CRCs is not degenerate).
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord: length (`u64` LE), its masked CRC32C, `data`, the data's masked CRC32C.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// The data of every record in `bytes`, both checksums verified.
pub fn read_records(bytes: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let corrupt = |what| Error::Corrupt { offset: at, what };
        let header = bytes.get(at..at + 12).ok_or(corrupt("header cut short"))?;
        let (len, len_crc) = header.split_at(8);
        if masked_crc32c(len) != u32::from_le_bytes(len_crc.try_into().expect("4 bytes")) {
            return Err(corrupt("length checksum mismatch"));
        }
        let len = usize::try_from(u64::from_le_bytes(len.try_into().expect("8 bytes")))
            .map_err(|_| corrupt("length does not fit in memory"))?;
        let start = at + 12;
        let end = start
            .checked_add(len)
            .filter(|end| end + 4 <= bytes.len())
            .ok_or(corrupt("data cut short"))?;
        let data = &bytes[start..end];
        let crc = u32::from_le_bytes(bytes[end..end + 4].try_into().expect("4 bytes"));
        if masked_crc32c(data) != crc {
            return Err(corrupt("data checksum mismatch"));
        }
        out.push(data);
        at = end + 4;
    }
    Ok(out)
}

/// Every event of the event file at `path`, checksums verified.
pub fn read_events(path: &Path) -> Result<Vec<Event>, Error> {
    let bytes = std::fs::read(path).map_err(io_at(path))?;
    let mut offset = 0;
    read_records(&bytes)?
        .into_iter()
        .map(|data| {
            let at = offset;
            offset += data.len() + 16;
            Event::decode(data).map_err(|source| Error::Decode { offset: at, source })
        })
        .collect()
}

/// The empty float tensor the HParams plugin puts in its summaries (`NULL_TENSOR` in its
/// `metadata.py`): TensorBoard's data provider keeps only values that hold a tensor.
fn null_tensor() -> TensorProto {
    TensorProto {
        dtype: proto::DT_FLOAT,
        tensor_shape: Some(TensorShapeProto {
            dim: vec![tensor_shape_proto::Dim {
                size: 0,
                name: String::new(),
            }],
        }),
        string_val: Vec::new(),
    }
}

/// Writes one event file into a run's folder.
///
/// The file is written under a temporary name (without `tfevents` in it, so a running
/// TensorBoard does not read it half-written) and renamed into place by
/// [`EventWriter::finish`]; dropped unfinished, the temporary file is removed.
pub struct EventWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    descriptions: BTreeMap<String, String>,
    described: BTreeSet<String>,
}

impl EventWriter {
    /// Creates the folder `dir` if needed and starts the event file
    /// `events.out.tfevents.<unix seconds of wall_time>.<host>` in it with the file
    /// version event.
    pub fn create(dir: &Path, host: &str, wall_time: f64) -> Result<EventWriter, Error> {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let name = format!("events.out.tfevents.{}.{host}", wall_time.max(0.0) as u64);
        let path = dir.join(&name);
        let tmp = dir.join(format!(".partial-{}", std::process::id()));
        let file = File::create(&tmp).map_err(io_at(&tmp))?;
        let mut writer = EventWriter {
            path,
            tmp,
            out: Some(BufWriter::new(file)),
            descriptions: BTreeMap::new(),
            described: BTreeSet::new(),
        };
        writer.write_event(&Event {
            wall_time,
            step: 0,
            what: Some(event::What::FileVersion(FILE_VERSION.into())),
        })?;
        Ok(writer)
    }

    /// Where the file will be once finished.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event.
    pub fn write_event(&mut self, event: &Event) -> Result<(), Error> {
        let out = self.out.as_mut().expect("open until finish");
        out.write_all(&frame(&event.encode_to_vec()))
            .map_err(io_at(&self.tmp))
    }

    /// Sets the description (markdown) TensorBoard shows with the chart of `tag`; it is
    /// written with the tag's first value.
    pub fn describe(&mut self, tag: &str, description: &str) {
        self.descriptions
            .insert(tag.to_string(), description.to_string());
    }

    /// Appends a scalar (`simple_value`, which TensorBoard reads as its scalars plugin's
    /// data). NaN and infinities are written as they are: TensorBoard stores them.
    pub fn scalar(
        &mut self,
        tag: &str,
        step: i64,
        wall_time: f64,
        value: f32,
    ) -> Result<(), Error> {
        let metadata = match self.descriptions.get(tag) {
            Some(text) if !self.described.contains(tag) => {
                self.described.insert(tag.to_string());
                Some(SummaryMetadata {
                    // As TensorBoard's own scalar summaries: the scalars plugin, its
                    // (empty) version-0 content, the scalar data class.
                    plugin_data: Some(PluginData {
                        plugin_name: SCALARS_PLUGIN.into(),
                        content: Vec::new(),
                    }),
                    summary_description: text.clone(),
                    data_class: proto::DATA_CLASS_SCALAR,
                    ..SummaryMetadata::default()
                })
            }
            _ => None,
        };
        self.summary(
            step,
            wall_time,
            SummaryValue {
                tag: tag.to_string(),
                metadata,
                value: Some(summary_value::Value::SimpleValue(value)),
            },
        )
    }

    /// Appends the HParams plugin's session start: the hyper-parameters of this run and the
    /// group TensorBoard puts it in (runs of one group are one row of its table).
    pub fn session_start(&mut self, info: SessionStartInfo, wall_time: f64) -> Result<(), Error> {
        self.hparams(
            SESSION_START_INFO_TAG,
            hparams_plugin_data::Data::SessionStartInfo(info),
            wall_time,
        )
    }

    /// Appends the HParams plugin's session end (status and end time).
    pub fn session_end(&mut self, info: SessionEndInfo, wall_time: f64) -> Result<(), Error> {
        self.hparams(
            SESSION_END_INFO_TAG,
            hparams_plugin_data::Data::SessionEndInfo(info),
            wall_time,
        )
    }

    /// Appends a layout of the custom scalars dashboard (as its `summary.pb` does: a
    /// string scalar tensor holding the serialised [`Layout`]). TensorBoard merges the
    /// layouts of all runs, categories by title, skipping duplicate charts.
    pub fn custom_scalars_layout(&mut self, layout: &Layout, wall_time: f64) -> Result<(), Error> {
        self.summary(
            0,
            wall_time,
            SummaryValue {
                tag: CUSTOM_SCALARS_LAYOUT_TAG.into(),
                metadata: Some(SummaryMetadata {
                    plugin_data: Some(PluginData {
                        plugin_name: CUSTOM_SCALARS_PLUGIN.into(),
                        content: Vec::new(),
                    }),
                    ..SummaryMetadata::default()
                }),
                value: Some(summary_value::Value::Tensor(TensorProto {
                    dtype: proto::DT_STRING,
                    tensor_shape: Some(TensorShapeProto::default()),
                    string_val: vec![layout.encode_to_vec()],
                })),
            },
        )
    }

    fn hparams(
        &mut self,
        tag: &str,
        data: hparams_plugin_data::Data,
        wall_time: f64,
    ) -> Result<(), Error> {
        let content = HParamsPluginData {
            version: HPARAMS_PLUGIN_DATA_VERSION,
            data: Some(data),
        }
        .encode_to_vec();
        self.summary(
            0,
            wall_time,
            SummaryValue {
                tag: tag.to_string(),
                metadata: Some(SummaryMetadata {
                    plugin_data: Some(PluginData {
                        plugin_name: HPARAMS_PLUGIN.into(),
                        content,
                    }),
                    ..SummaryMetadata::default()
                }),
                value: Some(summary_value::Value::Tensor(null_tensor())),
            },
        )
    }

    fn summary(&mut self, step: i64, wall_time: f64, value: SummaryValue) -> Result<(), Error> {
        self.write_event(&Event {
            wall_time,
            step,
            what: Some(event::What::Summary(Summary { value: vec![value] })),
        })
    }

    /// Flushes the file, syncs it and renames it to its final name; returns that path.
    pub fn finish(mut self) -> Result<PathBuf, Error> {
        let out = self.out.take().expect("open until finish");
        let file = out.into_inner().map_err(|e| Error::Io {
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_at(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io_at(&self.path))?;
        Ok(self.path.clone())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{SessionStatus, hparam};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn crc32c_of_the_standard_check_string() {
        // The CRC-32C check value (RFC 3720, B.4) and its masked form, as TensorBoard's
        // own `masked_crc32c` computes it.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
        // Empty data: CRC 0, so the mask's constant alone.
        assert_eq!(masked_crc32c(b""), 0xa282_ead8);
    }

    #[test]
    fn records_match_tensorboards_record_writer_byte_for_byte() {
        // From tensorboard 2.21.0's RecordWriter: write(b"hello"); write(b"").
        let expected =
            unhex("0500000000000000eab2043e68656c6c6fbb1f1c19000000000000000029039807d8ea82a2");
        let mut ours = frame(b"hello");
        ours.extend(frame(b""));
        assert_eq!(ours, expected);
        assert_eq!(
            read_records(&expected).unwrap(),
            vec![&b"hello"[..], &b""[..]]
        );
    }

    #[test]
    fn the_file_version_event_matches_tensorboards_encoding() {
        // event_pb2.Event(wall_time=1700000000.5, file_version='brain.Event:2'), framed by
        // tensorboard's RecordWriter.
        let expected = unhex(
            "1800000000000000a37f4b220900002040fc54d9411a0d627261696e2e4576656e743a322b353110",
        );
        let event = Event {
            wall_time: 1_700_000_000.5,
            step: 0,
            what: Some(event::What::FileVersion(FILE_VERSION.into())),
        };
        assert_eq!(frame(&event.encode_to_vec()), expected);
    }

    #[test]
    fn corrupt_records_are_refused() {
        let mut bytes = frame(b"hello");
        bytes[13] ^= 1;
        assert!(matches!(
            read_records(&bytes),
            Err(Error::Corrupt {
                what: "data checksum mismatch",
                ..
            })
        ));
        let bytes = frame(b"hello");
        assert!(matches!(
            read_records(&bytes[..bytes.len() - 1]),
            Err(Error::Corrupt {
                what: "data cut short",
                ..
            })
        ));
        let mut bytes = frame(b"hello");
        bytes[0] ^= 1;
        assert!(matches!(
            read_records(&bytes),
            Err(Error::Corrupt {
                what: "length checksum mismatch",
                ..
            })
        ));
    }

    #[test]
    fn a_written_file_reads_back_with_scalars_and_hparams() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path(), "box", 100.0).unwrap();
        w.describe("loss/test", "Mean test loss.");
        w.scalar("loss/test", 1, 101.0, 0.5).unwrap();
        w.scalar("loss/test", 2, 102.0, f32::NAN).unwrap();
        let mut hparams = BTreeMap::new();
        hparams.insert("lr".to_string(), hparam::number(0.01));
        hparams.insert("arch".to_string(), hparam::string("conv2"));
        w.session_start(
            SessionStartInfo {
                hparams,
                group_name: "smoke/base".into(),
                start_time_secs: 100.0,
                ..SessionStartInfo::default()
            },
            100.0,
        )
        .unwrap();
        w.session_end(
            SessionEndInfo {
                status: SessionStatus::Success as i32,
                end_time_secs: 103.0,
            },
            103.0,
        )
        .unwrap();
        let path = w.finish().unwrap();
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            "events.out.tfevents.100.box"
        );
        // Only the finished file is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let events = read_events(&path).unwrap();
        assert_eq!(events.len(), 5);
        assert_eq!(
            events[0].what,
            Some(event::What::FileVersion(FILE_VERSION.into()))
        );
        let values: Vec<&SummaryValue> = events[1..]
            .iter()
            .map(|e| match &e.what {
                Some(event::What::Summary(s)) => &s.value[0],
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            values[0].metadata.as_ref().unwrap().summary_description,
            "Mean test loss."
        );
        assert!(values[1].metadata.is_none(), "described once");
        assert!(
            matches!(values[1].value, Some(summary_value::Value::SimpleValue(v)) if v.is_nan())
        );
        assert_eq!(events[2].step, 2);
        let plugin = values[2]
            .metadata
            .as_ref()
            .unwrap()
            .plugin_data
            .as_ref()
            .unwrap();
        assert_eq!(plugin.plugin_name, HPARAMS_PLUGIN);
        let data = HParamsPluginData::decode(&plugin.content[..]).unwrap();
        match data.data {
            Some(hparams_plugin_data::Data::SessionStartInfo(info)) => {
                assert_eq!(info.group_name, "smoke/base");
                assert_eq!(info.hparams["lr"], hparam::number(0.01));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let w = EventWriter::create(dir.path(), "box", 1.0).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
