//! Scalars that the file may write in two ways: a byte size (a number or a
//! string with a unit) and a number or text (`0.5` or `50%`, `100` or
//! `10s`). They keep what was written; `validate::scalar` interprets it.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

/// A byte size as written: a plain integer (bytes) or a string with a unit.
#[derive(Debug)]
pub(crate) enum SizeFile {
    /// `16384`
    Bytes(u64),
    /// `16KiB`
    Text(String),
}

impl<'de> Deserialize<'de> for SizeFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = SizeFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes or a string such as `16KiB` or `10MiB`")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SizeFile, E> {
                Ok(SizeFile::Bytes(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SizeFile, E> {
                u64::try_from(v)
                    .map(SizeFile::Bytes)
                    .map_err(|_| E::custom(format!("size {v} is negative")))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SizeFile, E> {
                Ok(SizeFile::Text(v.to_owned()))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A scalar that is a number (`0.5`, `100`) or a string (`50%`, `10s`).
#[derive(Debug)]
pub(crate) enum NumberOrText {
    /// `0.5`
    Number(f64),
    /// `50%`
    Text(String),
}

impl<'de> Deserialize<'de> for NumberOrText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;

        impl Visitor<'_> for V {
            type Value = NumberOrText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string such as `50%` or `10s`")
            }

            // Counts and ratios in a config file are far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(v as f64))
            }

            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(v as f64))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(v))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Text(v.to_owned()))
            }
        }

        deserializer.deserialize_any(V)
    }
}

/// The schema of the two scalars (`config/seawall.schema.json`): serde's
/// hand-written visitors say nothing schemars can read.
#[cfg(test)]
mod schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    use super::{NumberOrText, SizeFile};

    impl JsonSchema for SizeFile {
        fn schema_name() -> Cow<'static, str> {
            "Size".into()
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "A size: a number of bytes, or a string with a unit (`16KiB`, `10MiB`, `1GB`).",
                "anyOf": [
                    { "type": "integer", "minimum": 0 },
                    { "type": "string", "pattern": "^\\s*[0-9]+\\s*(B|KiB|MiB|GiB|KB|MB|GB)?\\s*$" }
                ]
            })
        }
    }

    impl JsonSchema for NumberOrText {
        fn schema_name() -> Cow<'static, str> {
            "NumberOrText".into()
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "A number (`0.5`, `100`) or a string (`50%`, `10s`).",
                "type": ["number", "string"]
            })
        }
    }
}
