//! The crate's own price-table format (`data/prices.json`, described in
//! `data/README.md`) and the copy embedded at compile time.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::CostError;
use crate::pricing::{LongContextTier, ModelPricing, Rates};

/// The price table shipped with the crate.
pub(crate) const EMBEDDED_PRICE_TABLE: &str = include_str!("../data/prices.json");

/// The only value of `schema` this version reads.
pub(crate) const SUPPORTED_SCHEMA: u64 = 2;

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
    /// Provenance for people: the LiteLLM release the table was last generated from.
    #[serde(rename = "litellm_version")]
    _litellm_version: String,
    /// Documentation for people; required so that it is never dropped.
    #[serde(rename = "note")]
    _note: String,
    sources: BTreeMap<String, String>,
    /// LiteLLM `litellm_provider` → this table's provider, for the makers' own APIs.
    litellm_providers: BTreeMap<String, String>,
    models: Vec<PriceTableEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceTableEntry {
    model: String,
    provider: String,
    /// Provenance for people: where this entry's prices come from.
    #[serde(rename = "priced_from")]
    _priced_from: String,
    input_micros_per_mtok: u64,
    output_micros_per_mtok: u64,
    cache_read_micros_per_mtok: Option<u64>,
    cache_write_micros_per_mtok: Option<u64>,
    cache_write_1h_micros_per_mtok: Option<u64>,
    long_context: Option<LongContextEntry>,
}

/// The same prices as an entry's, for prompts above `threshold_tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongContextEntry {
    threshold_tokens: u64,
    input_micros_per_mtok: u64,
    output_micros_per_mtok: u64,
    cache_read_micros_per_mtok: Option<u64>,
    cache_write_micros_per_mtok: Option<u64>,
    cache_write_1h_micros_per_mtok: Option<u64>,
}

impl PriceTableEntry {
    fn into_pricing(self) -> ModelPricing {
        let base = Rates::from_prices(
            self.input_micros_per_mtok,
            self.output_micros_per_mtok,
            self.cache_read_micros_per_mtok,
            self.cache_write_micros_per_mtok,
            self.cache_write_1h_micros_per_mtok,
        );
        let pricing = ModelPricing::from_rates(self.model, base);
        match self.long_context {
            None => pricing,
            Some(tier) => pricing.with_long_context(LongContextTier::new(
                tier.threshold_tokens,
                Rates::from_prices(
                    tier.input_micros_per_mtok,
                    tier.output_micros_per_mtok,
                    tier.cache_read_micros_per_mtok,
                    tier.cache_write_micros_per_mtok,
                    tier.cache_write_1h_micros_per_mtok,
                ),
            )),
        }
    }
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
/// `YYYY-MM-DD` date, unique model names, a source URL for every provider,
/// and a known provider for every LiteLLM maker.
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
    let unsourced = |provider: &str| CostError::InvalidPriceTable {
        reason: format!(
            "provider `{provider}` has no pricing page in `sources`; \
             add one or correct the provider"
        ),
    };
    if let Some(provider) = file
        .litellm_providers
        .values()
        .find(|provider| !file.sources.contains_key(*provider))
    {
        return Err(unsourced(provider));
    }

    let mut seen = HashSet::with_capacity(file.models.len());
    let mut models = Vec::with_capacity(file.models.len());
    for entry in file.models {
        if !file.sources.contains_key(&entry.provider) {
            return Err(CostError::InvalidPriceTable {
                reason: format!("model `{}`: {}", entry.model, unsourced(&entry.provider)),
            });
        }
        if !seen.insert(entry.model.clone()) {
            return Err(CostError::DuplicateModel { model: entry.model });
        }
        models.push(entry.into_pricing());
    }

    Ok(ParsedPriceTable {
        checked_on: file.checked_on,
        models,
    })
}

/// The LiteLLM providers that are model makers' own APIs (`openai`,
/// `gemini`…), from the embedded table's `litellm_providers`; read once.
pub(crate) fn litellm_makers() -> &'static [Box<str>] {
    static MAKERS: OnceLock<Box<[Box<str>]>> = OnceLock::new();
    MAKERS.get_or_init(|| {
        #[derive(Deserialize)]
        struct Makers {
            litellm_providers: BTreeMap<String, String>,
        }
        // The crate's tests parse the embedded table, so this cannot fail in a
        // released version; if it did, no provider would be preferred.
        serde_json::from_str::<Makers>(EMBEDDED_PRICE_TABLE)
            .map(|makers| {
                makers
                    .litellm_providers
                    .into_keys()
                    .map(String::into_boxed_str)
                    .collect()
            })
            .unwrap_or_default()
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
        "schema": 2, "checked_on": "2025-01-31", "litellm_version": "1.0.0", "note": "n",
        "sources": {"openai": "https://example.invalid"},
        "litellm_providers": {"openai": "openai"},
        "models": [{"model": "m", "provider": "openai", "priced_from": "test",
                    "input_micros_per_mtok": 1, "output_micros_per_mtok": 2}]
    }"#;

    #[test]
    fn the_embedded_table_parses() {
        let table = parse(EMBEDDED_PRICE_TABLE).expect("data/prices.json is valid");
        assert!(table.models.len() >= 40);
        assert!(is_iso_date(&table.checked_on));
        assert!(litellm_makers().iter().any(|maker| &**maker == "gemini"));
    }

    #[test]
    fn a_minimal_table_parses() {
        let table = parse(MINIMAL).expect("minimal table is valid");
        assert_eq!(table.checked_on, "2025-01-31");
        assert_eq!(table.models, [ModelPricing::new("m", 1, 2)]);
    }

    #[test]
    fn cache_prices_and_a_tier_are_read() {
        let text = MINIMAL.replace(
            "\"output_micros_per_mtok\": 2}",
            "\"output_micros_per_mtok\": 2, \"cache_read_micros_per_mtok\": 3, \
             \"cache_write_1h_micros_per_mtok\": null, \
             \"long_context\": {\"threshold_tokens\": 9, \"input_micros_per_mtok\": 4, \
             \"output_micros_per_mtok\": 5, \"cache_write_micros_per_mtok\": 6}}",
        );
        let table = parse(&text).expect("valid");
        let expected =
            ModelPricing::from_rates("m", Rates::new(1, 2).with_cache_read(3)).with_long_context(
                LongContextTier::new(9, Rates::new(4, 5).with_cache_write(6)),
            );
        assert_eq!(table.models, [expected]);
    }

    #[test]
    fn unknown_fields_in_a_tier_are_refused() {
        let text = MINIMAL.replace(
            "\"output_micros_per_mtok\": 2}",
            "\"output_micros_per_mtok\": 2, \"long_context\": {\"threshold_tokens\": 9, \
             \"input_micros_per_mtok\": 4, \"output_micros_per_mtok\": 5, \"cache_reads\": 1}}",
        );
        assert!(matches!(
            parse(&text),
            Err(CostError::InvalidPriceTable { .. })
        ));
    }

    #[test]
    fn other_schemas_are_refused_by_number() {
        for (schema, found) in [("3, \"currency\": \"EUR\"", 3), ("1", 1)] {
            let other = MINIMAL.replace("\"schema\": 2", &format!("\"schema\": {schema}"));
            assert!(
                matches!(
                    parse(&other),
                    Err(CostError::UnsupportedSchema { found: f, supported: 2 }) if f == found
                ),
                "{schema}"
            );
        }
    }

    #[test]
    fn duplicate_models_are_refused() {
        let twice = MINIMAL.replace(
            "\"models\": [",
            "\"models\": [{\"model\": \"m\", \"provider\": \"openai\", \"priced_from\": \"t\", \
             \"input_micros_per_mtok\": 1, \"output_micros_per_mtok\": 2},",
        );
        assert!(matches!(parse(&twice), Err(CostError::DuplicateModel { model }) if model == "m"));
    }

    #[test]
    fn providers_need_a_source() {
        let unsourced = MINIMAL.replace("\"provider\": \"openai\"", "\"provider\": \"acme\"");
        let err = parse(&unsourced).expect_err("acme has no source");
        assert!(err.to_string().contains("`acme`"), "{err}");
        let maker = MINIMAL.replace("{\"openai\": \"openai\"}", "{\"gemini\": \"google\"}");
        let err = parse(&maker).expect_err("google has no source");
        assert!(err.to_string().contains("`google`"), "{err}");
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
        for extra in [
            MINIMAL.replace("\"note\": \"n\",", "\"note\": \"n\", \"notes\": \"typo\","),
            MINIMAL.replace(
                "\"priced_from\": \"test\",",
                "\"priced_from\": \"test\", \"cache_reads\": 1,",
            ),
        ] {
            assert!(matches!(
                parse(&extra),
                Err(CostError::InvalidPriceTable { .. })
            ));
        }
    }
}
