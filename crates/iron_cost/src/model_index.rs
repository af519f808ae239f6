//! Finding a model's price by name: exact, without a `provider/` prefix, or
//! ignoring ASCII case, preferring the model maker's own price to a reseller's.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::pricing::ModelPricing;

/// Longest name that case-insensitive lookup folds on the stack; longer names
/// are folded into a heap string (no real model name is this long).
const FOLD_BUFFER_LEN: usize = 128;

/// Name → position in `entries`, hashed with foldhash (fast, not DoS-resistant:
/// keys come from the price table, never from the network).
type NameMap = HashMap<Box<str>, usize, RandomState>;

/// Who sells a price entry's model: its maker or someone reselling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seller {
    /// The model maker's own API (OpenAI for `gpt-4o`, Google's Gemini API
    /// for `gemini-2.5-pro`), or a table that does not say.
    Maker,
    /// A cloud or router reselling the model (`vertex_ai`, `bedrock`,
    /// `azure`, `deepinfra`, `openrouter`…).
    Reseller,
}

/// The price entries plus two name indexes over them.
#[derive(Debug)]
pub(crate) struct ModelIndex {
    /// One entry per distinct model name, in the order first seen.
    entries: Box<[ModelPricing]>,
    /// Model names and bare names (after the last `/`), in priority order:
    /// the makers' names, then the makers' unambiguous bare names, then the
    /// resellers' names, then every unambiguous bare name left.
    exact: NameMap,
    /// The keys of `exact`, ASCII-lowercased; the first key to fold to a given
    /// string wins, in the same order as `exact` was filled.
    folded: NameMap,
}

impl ModelIndex {
    /// Indexes `entries`; of two entries with the same name the later one wins
    /// and takes the earlier one's position.
    pub(crate) fn new(entries: impl IntoIterator<Item = (ModelPricing, Seller)>) -> Self {
        let entries = entries.into_iter();
        let mut positions =
            NameMap::with_capacity_and_hasher(entries.size_hint().0, RandomState::default());
        let mut unique: Vec<(ModelPricing, Seller)> = Vec::with_capacity(entries.size_hint().0);
        for entry in entries {
            match positions
                .get(entry.0.model())
                .and_then(|&position| unique.get_mut(position))
            {
                Some(slot) => *slot = entry,
                None => {
                    positions.insert(Box::from(entry.0.model()), unique.len());
                    unique.push(entry);
                }
            }
        }

        // Keys in priority order. Both maps are filled from this one list so
        // that which entry wins is deterministic.
        let names_of = |seller: Seller| {
            unique
                .iter()
                .enumerate()
                .filter(move |(_, (_, of))| *of == seller)
                .map(|(position, (entry, _))| (entry.model(), position))
        };
        let mut keys: Vec<(&str, usize)> = names_of(Seller::Maker).collect();
        keys.extend(unambiguous_bare_names(&unique, Some(Seller::Maker)));
        keys.extend(names_of(Seller::Reseller));
        keys.extend(unambiguous_bare_names(&unique, None));

        let mut exact = NameMap::with_capacity_and_hasher(keys.len(), RandomState::default());
        let mut folded = NameMap::with_capacity_and_hasher(keys.len(), RandomState::default());
        for &(key, position) in &keys {
            exact.entry(Box::from(key)).or_insert(position);
            folded
                .entry(key.to_ascii_lowercase().into_boxed_str())
                .or_insert(position);
        }

        Self {
            entries: unique.into_iter().map(|(entry, _)| entry).collect(),
            exact,
            folded,
        }
    }

    /// All entries, one per distinct model name.
    pub(crate) fn entries(&self) -> &[ModelPricing] {
        &self.entries
    }

    /// Looks `model` up: exactly, then with each leading `provider/` segment
    /// stripped, then the same again ignoring ASCII case.
    ///
    /// The exact-match path does not allocate; the case-insensitive path folds
    /// names up to [`FOLD_BUFFER_LEN`] bytes on the stack.
    pub(crate) fn get(&self, model: &str) -> Option<&ModelPricing> {
        let position = find(&self.exact, model).or_else(|| self.find_folded(model))?;
        self.entries.get(position)
    }

    fn find_folded(&self, model: &str) -> Option<usize> {
        let mut buffer = [0_u8; FOLD_BUFFER_LEN];
        if let Some(prefix) = buffer.get_mut(..model.len()) {
            prefix.copy_from_slice(model.as_bytes());
            prefix.make_ascii_lowercase();
            // ASCII lowercasing keeps valid UTF-8 valid, so this never fails.
            let lowered = std::str::from_utf8(prefix).ok()?;
            find(&self.folded, lowered)
        } else {
            find(&self.folded, &model.to_ascii_lowercase())
        }
    }
}

/// Tries `name`, then `name` with each leading `segment/` removed in turn
/// (`a/b/c` → `b/c` → `c`).
fn find(map: &NameMap, name: &str) -> Option<usize> {
    std::iter::once(name)
        .chain(
            name.match_indices('/')
                .filter_map(|(slash, _)| name.get(slash + 1..)),
        )
        .filter(|candidate| !candidate.is_empty())
        .find_map(|candidate| map.get(candidate).copied())
}

/// Bare names of prefixed entries (of `seller`, or of anyone), each with its
/// first entry's position, in table order. A bare name whose entries disagree
/// on price is left out: with `azure/m` at $8 and `mistral/m` at $0.50, a
/// lookup of `m` would be a guess.
fn unambiguous_bare_names(
    entries: &[(ModelPricing, Seller)],
    seller: Option<Seller>,
) -> Vec<(&str, usize)> {
    let mut first_of: HashMap<&str, Option<usize>, RandomState> = HashMap::default();
    let mut order = Vec::new();
    for (position, (entry, of)) in entries.iter().enumerate() {
        if seller.is_some_and(|seller| seller != *of) {
            continue;
        }
        let Some(bare) = bare_name(entry.model()) else {
            continue;
        };
        match first_of.get(bare) {
            None => {
                first_of.insert(bare, Some(position));
                order.push(bare);
            }
            Some(Some(first)) => {
                let agrees = entries
                    .get(*first)
                    .is_some_and(|(first, _)| first.same_prices(entry));
                if !agrees {
                    first_of.insert(bare, None);
                }
            }
            Some(None) => {}
        }
    }
    order
        .into_iter()
        .filter_map(|bare| {
            first_of
                .get(bare)
                .copied()
                .flatten()
                .map(|position| (bare, position))
        })
        .collect()
}

/// The part of a prefixed name after its last `/`, if there is a prefix and
/// something after it.
fn bare_name(model: &str) -> Option<&str> {
    let slash = model.rfind('/')?;
    model.get(slash + 1..).filter(|bare| !bare.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(names: &[(&str, u64)]) -> ModelIndex {
        ModelIndex::new(
            names
                .iter()
                .map(|&(name, price)| (ModelPricing::new(name, price, price), Seller::Maker)),
        )
    }

    fn sold(names: &[(&str, u64, Seller)]) -> ModelIndex {
        ModelIndex::new(
            names
                .iter()
                .map(|&(name, price, seller)| (ModelPricing::new(name, price, price), seller)),
        )
    }

    fn price_of(index: &ModelIndex, name: &str) -> Option<u64> {
        index
            .get(name)
            .map(ModelPricing::input_micros_per_million_tokens)
    }

    #[test]
    fn exact_name_wins_over_every_fallback() {
        let index = index(&[("GPT-4", 1), ("gpt-4", 2), ("openai/gpt-4", 3)]);
        assert_eq!(price_of(&index, "gpt-4"), Some(2));
        assert_eq!(price_of(&index, "GPT-4"), Some(1));
        assert_eq!(price_of(&index, "openai/gpt-4"), Some(3));
    }

    #[test]
    fn provider_prefixes_are_stripped_one_at_a_time() {
        let index = index(&[("gpt-4", 1), ("anthropic/claude", 2)]);
        assert_eq!(price_of(&index, "openai/gpt-4"), Some(1));
        assert_eq!(price_of(&index, "openrouter/openai/gpt-4"), Some(1));
        assert_eq!(price_of(&index, "router/anthropic/claude"), Some(2));
        assert_eq!(price_of(&index, "openai/"), None);
        assert_eq!(price_of(&index, "/"), None);
    }

    #[test]
    fn prefixed_table_names_answer_to_their_bare_name() {
        let index = index(&[("mistral/codestral-latest", 1), ("codestral-2501", 2)]);
        assert_eq!(price_of(&index, "codestral-latest"), Some(1));
        assert_eq!(price_of(&index, "Codestral-Latest"), Some(1));
        assert_eq!(price_of(&index, "codestral-2501"), Some(2));
    }

    #[test]
    fn a_real_name_beats_another_entrys_bare_name() {
        let index = index(&[("azure/gpt-4", 1), ("gpt-4", 2)]);
        assert_eq!(price_of(&index, "gpt-4"), Some(2));
        assert_eq!(price_of(&index, "GPT-4"), Some(2));
        assert_eq!(price_of(&index, "azure/gpt-4"), Some(1));
    }

    #[test]
    fn bare_names_shared_at_different_prices_are_not_guessed() {
        let index = index(&[("azure/gpt-x", 8), ("openai/gpt-x", 1), ("vertex/gpt-x", 1)]);
        assert_eq!(price_of(&index, "gpt-x"), None);
        assert_eq!(price_of(&index, "GPT-X"), None);
        assert_eq!(price_of(&index, "openai/gpt-x"), Some(1));
        assert_eq!(price_of(&index, "router/azure/gpt-x"), Some(8));
    }

    #[test]
    fn bare_names_shared_at_the_same_price_resolve_to_the_first() {
        let index = index(&[("gemini/flash", 3), ("vertex/flash", 3)]);
        assert_eq!(
            index.get("flash").map(ModelPricing::model),
            Some("gemini/flash")
        );
    }

    #[test]
    fn case_is_ignored_after_exact_lookups_fail() {
        let index = index(&[("claude-3-opus-20240229", 7)]);
        assert_eq!(price_of(&index, "Claude-3-Opus-20240229"), Some(7));
        assert_eq!(
            price_of(&index, "ANTHROPIC/CLAUDE-3-OPUS-20240229"),
            Some(7)
        );
    }

    #[test]
    fn names_longer_than_the_fold_buffer_still_fold() {
        let long = "m".repeat(FOLD_BUFFER_LEN + 10);
        let index = index(&[(long.as_str(), 5)]);
        assert_eq!(price_of(&index, &long.to_ascii_uppercase()), Some(5));
        assert_eq!(price_of(&index, &"x".repeat(FOLD_BUFFER_LEN * 4)), None);
    }

    #[test]
    fn later_duplicates_replace_earlier_ones_in_place() {
        let index = index(&[("a", 1), ("b", 2), ("a", 3)]);
        let names: Vec<&str> = index.entries().iter().map(ModelPricing::model).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(price_of(&index, "a"), Some(3));
    }

    #[test]
    fn non_ascii_names_are_matched_exactly() {
        let index = index(&[("modèle-É", 4)]);
        assert_eq!(price_of(&index, "modèle-É"), Some(4));
        assert_eq!(price_of(&index, "MODèLE-É"), Some(4));
        assert_eq!(price_of(&index, "modèle-é"), None);
    }

    #[test]
    fn a_makers_bare_name_beats_a_resellers_real_name() {
        use Seller::{Maker, Reseller};
        // LiteLLM: `gemini-2.5-pro` is Vertex AI's entry, `gemini/gemini-2.5-pro` Google's own.
        let index = sold(&[
            ("gemini-2.5-pro", 2, Reseller),
            ("gemini/gemini-2.5-pro", 1, Maker),
            ("vertex_ai/gemini-2.5-pro", 2, Reseller),
            ("deepinfra/anthropic/claude-x", 3, Reseller),
            ("claude-x", 4, Maker),
            ("openrouter/m", 5, Reseller),
            ("bedrock/m", 6, Reseller),
            ("azure/n", 7, Reseller),
            ("bedrock/n", 7, Reseller),
        ]);
        assert_eq!(price_of(&index, "gemini-2.5-pro"), Some(1));
        assert_eq!(price_of(&index, "Gemini-2.5-Pro"), Some(1));
        assert_eq!(price_of(&index, "google/gemini-2.5-pro"), Some(1));
        // The full name still finds the reseller.
        assert_eq!(price_of(&index, "vertex_ai/gemini-2.5-pro"), Some(2));
        assert_eq!(price_of(&index, "claude-x"), Some(4));
        assert_eq!(price_of(&index, "anthropic/claude-x"), Some(4));
        assert_eq!(price_of(&index, "deepinfra/anthropic/claude-x"), Some(3));
        // Resellers alone: the old rule (agreeing prices or nothing).
        assert_eq!(price_of(&index, "m"), None);
        assert_eq!(price_of(&index, "n"), Some(7));
    }

    #[test]
    fn makers_disagreeing_on_a_bare_name_leave_it_to_the_other_rules() {
        use Seller::{Maker, Reseller};
        let index = sold(&[("a/m", 1, Maker), ("b/m", 2, Maker), ("m", 3, Reseller)]);
        assert_eq!(price_of(&index, "m"), Some(3));
    }
}
