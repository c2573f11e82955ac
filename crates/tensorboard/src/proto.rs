//! The protobuf messages of an event file, derived with `prost` by hand (only the fields
//! we write; a decoder skips the others).
//!
//! Field numbers as in tensorboard 2.21.0's descriptors:
//! `tensorboard/compat/proto/event.proto` (`Event`), `summary.proto` (`Summary`,
//! `Summary.Value`, `SummaryMetadata`, `SummaryMetadata.PluginData`), `tensor.proto` and
//! `tensor_shape.proto` (`TensorProto`, `TensorShapeProto`, `DataClass`),
//! `tensorboard/plugins/hparams/plugin_data.proto` (`HParamsPluginData`,
//! `SessionStartInfo`, `SessionEndInfo`), `api.proto` (`Status`),
//! `tensorboard/plugins/custom_scalar/layout.proto` (`Layout`, `Category`, `Chart`,
//! `MarginChartContent`), and `google/protobuf/struct.proto` (`Value`).

use std::collections::BTreeMap;

/// `DT_FLOAT` of `types.proto`'s `DataType`.
pub const DT_FLOAT: i32 = 1;
/// `DT_STRING` of `types.proto`'s `DataType`.
pub const DT_STRING: i32 = 7;
/// `DATA_CLASS_SCALAR` of `summary.proto`'s `DataClass`.
pub const DATA_CLASS_SCALAR: i32 = 1;

/// One record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step (here: the epoch).
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event holds.
    #[prost(oneof = "event::What", tags = "3, 5")]
    pub what: Option<event::What>,
}

/// Nested types of [`Event`].
pub mod event {
    /// The `what` oneof of an event (the variants we use).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        /// The file's format version (the first event): `brain.Event:2`.
        #[prost(string, tag = "3")]
        FileVersion(String),
        /// Summary values.
        #[prost(message, tag = "5")]
        Summary(super::Summary),
    }
}

/// Summary values of one event.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `Summary.Value`: one tagged value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The tag, e.g. `loss/test`.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// Plugin and description (needed on a tag's first value only).
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    /// The value.
    #[prost(oneof = "summary_value::Value", tags = "2, 8")]
    pub value: Option<summary_value::Value>,
}

/// Nested types of [`SummaryValue`].
pub mod summary_value {
    /// The `value` oneof (the variants we use).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A scalar.
        #[prost(float, tag = "2")]
        SimpleValue(f32),
        /// A tensor.
        #[prost(message, tag = "8")]
        Tensor(super::TensorProto),
    }
}

/// What a summary value is and which plugin reads it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin and its data.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    /// Display name.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// Description (markdown), shown with the chart.
    #[prost(string, tag = "3")]
    pub summary_description: String,
    /// `DataClass` enum value, e.g. [`DATA_CLASS_SCALAR`].
    #[prost(int32, tag = "4")]
    pub data_class: i32,
}

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// The plugin, e.g. `hparams`.
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// The plugin's own serialised message.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// A tensor (the fields we use: the HParams plugin's summaries hold an empty float tensor,
/// the custom scalars plugin's layout a string scalar).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `DataType` enum value, e.g. [`DT_FLOAT`].
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// The elements of a [`DT_STRING`] tensor.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// A tensor's shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<tensor_shape_proto::Dim>,
}

/// Nested types of [`TensorShapeProto`].
pub mod tensor_shape_proto {
    /// One dimension.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dim {
        /// Its size.
        #[prost(int64, tag = "1")]
        pub size: i64,
        /// Its name.
        #[prost(string, tag = "2")]
        pub name: String,
    }
}

/// The HParams plugin's content of a summary value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamsPluginData {
    /// Always [`crate::HPARAMS_PLUGIN_DATA_VERSION`].
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// What it holds (the variants we use).
    #[prost(oneof = "hparams_plugin_data::Data", tags = "3, 4")]
    pub data: Option<hparams_plugin_data::Data>,
}

/// Nested types of [`HParamsPluginData`].
pub mod hparams_plugin_data {
    /// The `data` oneof (field 2, `experiment`, is not written: TensorBoard derives the
    /// experiment from the sessions).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        /// A session (run) starts.
        #[prost(message, tag = "3")]
        SessionStartInfo(super::SessionStartInfo),
        /// A session ends.
        #[prost(message, tag = "4")]
        SessionEndInfo(super::SessionEndInfo),
    }
}

/// A session's hyper-parameters and group.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    /// Hyper-parameter values by name.
    #[prost(btree_map = "string, message", tag = "1")]
    pub hparams: BTreeMap<String, ProtoValue>,
    /// Where the model is.
    #[prost(string, tag = "2")]
    pub model_uri: String,
    /// A monitoring URL.
    #[prost(string, tag = "3")]
    pub monitor_url: String,
    /// Sessions with the same group name are one row of the HParams table (their
    /// metrics aggregated); empty: a group of its own.
    #[prost(string, tag = "4")]
    pub group_name: String,
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// How a session ended.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionEndInfo {
    /// A [`SessionStatus`] value.
    #[prost(enumeration = "SessionStatus", tag = "1")]
    pub status: i32,
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "2")]
    pub end_time_secs: f64,
}

/// `tensorboard.hparams.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SessionStatus {
    /// Unknown.
    Unknown = 0,
    /// Ran to the end.
    Success = 1,
    /// Failed (here: diverged).
    Failure = 2,
    /// Still running.
    Running = 3,
}

/// `google.protobuf.Value` (the kinds a hyper-parameter can have).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoValue {
    /// The value.
    #[prost(oneof = "proto_value::Kind", tags = "1, 2, 3, 4")]
    pub kind: Option<proto_value::Kind>,
}

/// Nested types of [`ProtoValue`].
pub mod proto_value {
    /// The `kind` oneof (struct and list values are not used).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// `NullValue.NULL_VALUE` (0).
        #[prost(int32, tag = "1")]
        NullValue(i32),
        /// A number.
        #[prost(double, tag = "2")]
        NumberValue(f64),
        /// A string.
        #[prost(string, tag = "3")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
    }
}

/// Constructors of hyper-parameter values.
pub mod hparam {
    use super::{ProtoValue, proto_value::Kind};

    /// A number.
    pub fn number(x: f64) -> ProtoValue {
        ProtoValue {
            kind: Some(Kind::NumberValue(x)),
        }
    }

    /// A string.
    pub fn string(s: impl Into<String>) -> ProtoValue {
        ProtoValue {
            kind: Some(Kind::StringValue(s.into())),
        }
    }

    /// A boolean.
    pub fn boolean(b: bool) -> ProtoValue {
        ProtoValue {
            kind: Some(Kind::BoolValue(b)),
        }
    }
}

/// The custom scalars plugin's dashboard layout (`layout.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Layout {
    /// Format version (0).
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// Sections of the dashboard.
    #[prost(message, repeated, tag = "2")]
    pub category: Vec<Category>,
}

/// A section of the custom scalars dashboard (same titles from several runs merge).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Category {
    /// Its title.
    #[prost(string, tag = "1")]
    pub title: String,
    /// Its charts.
    #[prost(message, repeated, tag = "2")]
    pub chart: Vec<Chart>,
    /// Whether it starts collapsed.
    #[prost(bool, tag = "3")]
    pub closed: bool,
}

/// One chart of the custom scalars dashboard.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chart {
    /// Its title.
    #[prost(string, tag = "1")]
    pub title: String,
    /// What it draws (only margin charts are used).
    #[prost(oneof = "chart::Content", tags = "3")]
    pub content: Option<chart::Content>,
}

/// Nested types of [`Chart`].
pub mod chart {
    /// The `content` oneof (the variant we use).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Content {
        /// A line with a band between a lower and an upper line.
        #[prost(message, tag = "3")]
        Margin(super::MarginChartContent),
    }
}

/// A margin chart: per series, a value line and a band between two other tags.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MarginChartContent {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<margin_chart_content::Series>,
}

/// Nested types of [`MarginChartContent`].
pub mod margin_chart_content {
    /// The tags of one series.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Series {
        /// Tag of the line.
        #[prost(string, tag = "1")]
        pub value: String,
        /// Tag of the band's lower edge.
        #[prost(string, tag = "2")]
        pub lower: String,
        /// Tag of the band's upper edge.
        #[prost(string, tag = "3")]
        pub upper: String,
    }
}
