//! Serde helpers for `f64` values that may be non-finite.
//!
//! JSON has no NaN or infinity, and serde_json writes them as `null`, which then does not
//! read back as an `f64`: a diverged trial's record or a NaN batch loss would make the file
//! unreadable. With `#[serde(with = "contract::finite")]` a finite number is written as a
//! plain JSON number and a non-finite one as one of the strings `"NaN"`, `"inf"` or
//! `"-inf"`; reading accepts a number or one of those strings (also `"+inf"`, `"Infinity"`,
//! `"-Infinity"`, any case) and rejects `null` and any other string with an error that
//! says what was expected. [`option`] is the same for `Option<f64>` (`None` is `null`).
//!
//! Formats that do have non-finite floats (RON) see the strings too, so every format
//! reads back what it wrote. The round trips are tested in
//! `crates/experiment/tests/store_finite.rs` (where serde_json and RON are at hand).

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use std::fmt;

/// The text of a non-finite value, `None` for a finite one.
fn non_finite_text(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("NaN")
    } else if x == f64::INFINITY {
        Some("inf")
    } else if x == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// Parses the strings this module writes (and common spellings of them).
fn parse_non_finite(text: &str) -> Option<f64> {
    match text.trim().to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Writes `x` as a number, or as `"NaN"`, `"inf"`, `"-inf"`.
pub fn serialize<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    match non_finite_text(*x) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.serialize_f64(*x),
    }
}

/// Reads a number, or `"NaN"`, `"inf"`, `"-inf"`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(FiniteVisitor)
}

struct FiniteVisitor;

impl Visitor<'_> for FiniteVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or one of the strings \"NaN\", \"inf\", \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<f64, E> {
        Ok(f64::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse_non_finite(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// The same for `Option<f64>`: `None` is `null`, `Some(x)` is written as [`serialize`]
/// writes `x`.
pub mod option {
    use super::{FiniteVisitor, non_finite_text};
    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;
    use std::fmt;

    /// Writes `None` as `null`, `Some(x)` as a number or `"NaN"`, `"inf"`, `"-inf"`.
    pub fn serialize<S: Serializer>(x: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match x {
            None => serializer.serialize_none(),
            Some(x) => match non_finite_text(*x) {
                Some(text) => serializer.serialize_some(text),
                None => serializer.serialize_some(x),
            },
        }
    }

    /// Reads `null` as `None`, a number or `"NaN"`, `"inf"`, `"-inf"` as `Some`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<f64>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("null, a number or one of the strings \"NaN\", \"inf\", \"-inf\"")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(FiniteVisitor).map(Some)
        }
    }
}
