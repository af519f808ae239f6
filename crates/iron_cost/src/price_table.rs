//! The crate's own price-table format (`data/prices.json`, described in
//! `data/README.md`) and the copy embedded at compile time.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::error::CostError;
use crate::pricing::ModelPricing;

/// The price table shipped with the crate.
pub(crate) const EMBEDDED_PRICE_TABLE: &str = include_str!("../data/prices.json");

/// The only value of `schema` this version reads.
pub(crate) const SUPPORTED_SCHEMA: u64 = 1;

/// Read first, on its own, so that a newer table is reported as a newer
/// schema rather than as unknown fields.
#[derive(Deserialize)]
struct SchemaVersion {
    schema: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceTableFile {
    #[serde(rename = "schema")]
    _schema: u64,
    checked_on: String,
    /// Documentation for people; required so that it is never dropped.
    #[serde(rename = "note")]
    _note: String,
    sources: BTreeMap<String, String>,
    models: Vec<PriceTableEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceTableEntry {
    model: String,
    provider: String,
    input_micros_per_mtok: u64,
    output_micros_per_mtok: u64,
}

/// A parsed and checked price table.
#[derive(Debug)]
pub(crate) struct ParsedPriceTable {
    /// `checked_on`, as written.
    pub(crate) checked_on: String,
    /// The models, in file order.
    pub(crate) models: Vec<ModelPricing>,
}

/// Parses a table in this crate's format and checks it: supported schema,
/// `YYYY-MM-DD` date, unique model names, a source URL for every provider.
pub(crate) fn parse(text: &str) -> Result<ParsedPriceTable, CostError> {
    let version: SchemaVersion =
        serde_json::from_str(text).map_err(|error| CostError::from_json(&error))?;
    if version.schema != SUPPORTED_SCHEMA {
        return Err(CostError::UnsupportedSchema {
            found: version.schema,
            supported: SUPPORTED_SCHEMA,
        });
    }
    let file: PriceTableFile =
        serde_json::from_str(text).map_err(|error| CostError::from_json(&error))?;

    if !is_iso_date(&file.checked_on) {
        return Err(CostError::InvalidPriceTable {
            reason: format!(
                "`checked_on` is {:?}; write the date as YYYY-MM-DD",
                file.checked_on
            ),
        });
    }

    let mut seen = HashSet::with_capacity(file.models.len());
    let mut models = Vec::with_capacity(file.models.len());
    for entry in file.models {
        if !file.sources.contains_key(&entry.provider) {
            return Err(CostError::InvalidPriceTable {
                reason: format!(
                    "model `{}` names provider `{}`, which has no pricing page in `sources`; \
                     add one or correct the provider",
                    entry.model, entry.provider
                ),
            });
        }
        if !seen.insert(entry.model.clone()) {
            return Err(CostError::DuplicateModel { model: entry.model });
        }
        models.push(ModelPricing::new(
            entry.model,
            entry.input_micros_per_mtok,
            entry.output_micros_per_mtok,
        ));
    }

    Ok(ParsedPriceTable {
        checked_on: file.checked_on,
        models,
    })
}

/// `YYYY-MM-DD` in shape (digits and dashes); the calendar is not checked.
fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes
            .iter()
            .enumerate()
            .all(|(position, byte)| match position {
                4 | 7 => *byte == b'-',
                _ => byte.is_ascii_digit(),
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{
        "schema": 1, "checked_on": "2025-01-31", "note": "n",
        "sources": {"openai": "https://example.invalid"},
        "models": [{"model": "m", "provider": "openai",
                    "input_micros_per_mtok": 1, "output_micros_per_mtok": 2}]
    }"#;

    #[test]
    fn the_embedded_table_parses() {
        let table = parse(EMBEDDED_PRICE_TABLE).expect("data/prices.json is valid");
        assert!(table.models.len() >= 40);
        assert!(is_iso_date(&table.checked_on));
    }

    #[test]
    fn a_minimal_table_parses() {
        let table = parse(MINIMAL).expect("minimal table is valid");
        assert_eq!(table.checked_on, "2025-01-31");
        assert_eq!(table.models, [ModelPricing::new("m", 1, 2)]);
    }

    #[test]
    fn newer_schemas_are_refused_by_number() {
        let newer = MINIMAL.replace("\"schema\": 1", "\"schema\": 2, \"currency\": \"EUR\"");
        assert!(matches!(
            parse(&newer),
            Err(CostError::UnsupportedSchema {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn duplicate_models_are_refused() {
        let twice = MINIMAL.replace(
            "\"models\": [",
            "\"models\": [{\"model\": \"m\", \"provider\": \"openai\", \
             \"input_micros_per_mtok\": 1, \"output_micros_per_mtok\": 2},",
        );
        assert!(matches!(parse(&twice), Err(CostError::DuplicateModel { model }) if model == "m"));
    }

    #[test]
    fn providers_need_a_source() {
        let unsourced = MINIMAL.replace("\"provider\": \"openai\"", "\"provider\": \"acme\"");
        let err = parse(&unsourced).expect_err("acme has no source");
        assert!(err.to_string().contains("`acme`"), "{err}");
    }

    #[test]
    fn dates_must_be_iso() {
        let bad = MINIMAL.replace("2025-01-31", "31/01/2025");
        assert!(matches!(
            parse(&bad),
            Err(CostError::InvalidPriceTable { .. })
        ));
        assert!(is_iso_date("2025-11-30"));
        assert!(!is_iso_date("2025-1-30"));
        assert!(!is_iso_date("2025_11_30"));
    }

    #[test]
    fn fractional_or_negative_prices_are_shape_errors() {
        for bad in ["1.5", "-1", "\"1\""] {
            let text = MINIMAL.replace(
                "\"input_micros_per_mtok\": 1",
                &format!("\"input_micros_per_mtok\": {bad}"),
            );
            assert!(
                matches!(parse(&text), Err(CostError::InvalidPriceTable { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let extra = MINIMAL.replace("\"note\": \"n\",", "\"note\": \"n\", \"notes\": \"typo\",");
        assert!(matches!(
            parse(&extra),
            Err(CostError::InvalidPriceTable { .. })
        ));
    }
}
