//! The error type for loading price tables.

use std::path::PathBuf;

/// Why a price table could not be loaded.
///
/// Looking up a model or computing a cost never fails; only building a
/// [`PricingManager`](crate::pricing::PricingManager) from text or a file can.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CostError {
    /// The text is not syntactically valid JSON.
    #[error(
        "price table is not valid JSON: {reason}; check that the file is complete \
         (not truncated) and is the price table you meant to load"
    )]
    InvalidJson {
        /// What the JSON parser objected to, with line and column.
        reason: String,
    },

    /// The JSON is valid but is not shaped like the expected price table.
    #[error("price table has the wrong shape: {reason}")]
    InvalidPriceTable {
        /// What is wrong, where, and how to fix it.
        reason: String,
    },

    /// One model's price is negative, not a number, or out of range.
    #[error(
        "invalid price for model `{model}`, field `{field}`: {reason}; \
         fix or remove this model's entry"
    )]
    InvalidPrice {
        /// The model whose entry holds the bad price.
        model: String,
        /// The field holding the bad price, e.g. `input_cost_per_token`.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },

    /// The same model name appears twice in a table that requires unique names.
    #[error(
        "model `{model}` is listed more than once in the price table; \
         keep one entry per model"
    )]
    DuplicateModel {
        /// The repeated model name.
        model: String,
    },

    /// The price table declares a format version this crate cannot read.
    #[error(
        "price table schema {found} is not supported (this version of iron_cost \
         reads schema {supported}); upgrade iron_cost or regenerate the table"
    )]
    UnsupportedSchema {
        /// The `schema` value found in the table.
        found: u64,
        /// The only schema this crate reads.
        supported: u64,
    },

    /// A price file could not be read from disk.
    #[error(
        "cannot read price file `{path}`: {source}; check that the path exists \
         and is readable",
        path = path.display()
    )]
    Io {
        /// The path that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CostError {
    /// Classifies a `serde_json` error: broken syntax versus a wrong shape.
    pub(crate) fn from_json(error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => Self::InvalidPriceTable {
                reason: error.to_string(),
            },
            Category::Syntax | Category::Eof | Category::Io => Self::InvalidJson {
                reason: error.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_invalid_json() {
        let err = serde_json::from_str::<serde_json::Value>("{\"a\": ")
            .expect_err("the text is malformed");
        assert!(matches!(
            CostError::from_json(&err),
            CostError::InvalidJson { .. }
        ));
    }

    #[test]
    fn shape_errors_are_invalid_price_table() {
        let err =
            serde_json::from_str::<Vec<u64>>("{\"a\": 1}").expect_err("the text is malformed");
        assert!(matches!(
            CostError::from_json(&err),
            CostError::InvalidPriceTable { .. }
        ));
    }

    #[test]
    fn messages_say_what_to_do_next() {
        let err = CostError::InvalidPrice {
            model: "gpt-4".into(),
            field: "input_cost_per_token".into(),
            reason: "is negative (-1)".into(),
        };
        let text = err.to_string();
        assert!(text.contains("`gpt-4`"), "{text}");
        assert!(text.contains("`input_cost_per_token`"), "{text}");
        assert!(text.contains("fix or remove"), "{text}");

        let err = CostError::Io {
            path: PathBuf::from("/nowhere/prices.json"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(err.to_string().contains("/nowhere/prices.json"));
        assert!(std::error::Error::source(&err).is_some());
    }
}
