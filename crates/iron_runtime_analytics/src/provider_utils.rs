//! Utility functions and types for analytics: the [`Provider`] enum,
//! [`infer_provider`] and [`current_time_ms`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The LLM vendors the library knows by name.
///
/// Stats keep these names; on the wire, Protocol 012 only knows `openai`,
/// `anthropic` and `unknown` (see [`Provider::wire_name`]).
///
/// Parsing never fails: a name the library does not know is
/// [`Provider::Unknown`], as in `iron_runtime_analytics` 0.4.0 (whose
/// `Provider` had only `OpenAI`, `Anthropic` and `Unknown`).
///
/// ```
/// use std::sync::Arc;
/// use iron_runtime_analytics::Provider;
///
/// assert_eq!("OpenAI".parse::<Provider>(), Ok(Provider::OpenAI));
/// assert_eq!(Provider::from("my-gateway"), Provider::Unknown);
/// assert_eq!(Provider::default(), Provider::Unknown);
/// let name: Arc<str> = Provider::Google.into();
/// assert_eq!(&*name, "google");
/// assert_eq!(serde_json::to_string(&Provider::XAI).unwrap(), r#""xai""#);
/// assert_eq!(serde_json::from_str::<Provider>(r#""my-gateway""#).unwrap(), Provider::Unknown);
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI (`gpt-*`, `o1*`, `o3*`, `o4*`, `chatgpt-*`, embeddings, `dall-e`, `whisper`, `tts-*`, `openai/*`).
    OpenAI,
    /// Anthropic (`claude-*`).
    Anthropic,
    /// Google (`gemini-*`).
    Google,
    /// Mistral AI (`mistral-*`, `codestral-*`, `ministral-*`, `pixtral-*`, `magistral-*`).
    Mistral,
    /// DeepSeek (`deepseek-*`).
    DeepSeek,
    /// xAI (`grok-*`).
    XAI,
    /// Anything else (also what a name the library does not know parses to).
    #[default]
    #[serde(other)]
    Unknown,
}

impl Provider {
    /// Every variant, in declaration order.
    pub const ALL: [Provider; 7] = [
        Provider::OpenAI,
        Provider::Anthropic,
        Provider::Google,
        Provider::Mistral,
        Provider::DeepSeek,
        Provider::XAI,
        Provider::Unknown,
    ];

    /// The lowercase name used in stats and events (`"openai"`, `"xai"`, …).
    ///
    /// ```
    /// use iron_runtime_analytics::Provider;
    /// assert_eq!(Provider::XAI.as_str(), "xai");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Provider::OpenAI => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Google => "google",
            Provider::Mistral => "mistral",
            Provider::DeepSeek => "deepseek",
            Provider::XAI => "xai",
            Provider::Unknown => "unknown",
        }
    }

    /// The name as an `Arc<str>`, the type of
    /// [`LlmModelMeta::provider`](crate::event::LlmModelMeta::provider).
    pub fn to_arc_str(self) -> Arc<str> {
        Arc::from(self.as_str())
    }

    /// Parses a provider name as produced by [`Provider::as_str`] (ASCII
    /// case-insensitive); `None` for a name the library does not know
    /// (where [`FromStr`] answers [`Provider::Unknown`]).
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }

    /// The name Protocol 012 accepts for a provider name: `openai` and
    /// `anthropic` stay, every other name becomes `unknown`.
    ///
    /// ```
    /// use iron_runtime_analytics::Provider;
    /// assert_eq!(Provider::wire_name("anthropic"), "anthropic");
    /// assert_eq!(Provider::wire_name("google"), "unknown");
    /// ```
    pub fn wire_name(name: &str) -> &'static str {
        match Provider::from_name(name) {
            Some(Provider::OpenAI) => "openai",
            Some(Provider::Anthropic) => "anthropic",
            _ => "unknown",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    /// Never returned: a name the library does not know is [`Provider::Unknown`].
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Provider::from_name(s).unwrap_or_default())
    }
}

impl From<&str> for Provider {
    /// As [`FromStr`]: ASCII case-insensitive, [`Provider::Unknown`] for other names.
    fn from(name: &str) -> Self {
        Provider::from_name(name).unwrap_or_default()
    }
}

impl From<Provider> for Arc<str> {
    fn from(provider: Provider) -> Self {
        provider.to_arc_str()
    }
}

// `PREFIXES` and `OTEL_NAMES`, from data/providers.json (shared with the JS fallback).
include!(concat!(env!("OUT_DIR"), "/providers.rs"));

impl Provider {
    /// The OpenTelemetry GenAI semantic conventions' well-known value of
    /// `gen_ai.provider.name` (`gcp.gemini` for Google, `mistral_ai`, `x_ai`, …).
    ///
    /// ```
    /// use iron_runtime_analytics::Provider;
    /// assert_eq!(Provider::Google.otel_name(), "gcp.gemini");
    /// assert_eq!(Provider::OpenAI.otel_name(), "openai");
    /// ```
    pub fn otel_name(self) -> &'static str {
        OTEL_NAMES
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("unknown", |(_, name)| name)
    }
}

/// Infers the provider from a model name by its prefix (ASCII case-insensitive);
/// a `provider/` prefix (`openai/gpt-4o`, `mistralai/…`, `x-ai/…`) names its
/// provider too (see `data/providers.json`).
///
/// ```
/// use iron_runtime_analytics::{infer_provider, Provider};
/// assert_eq!(infer_provider("gpt-4o-mini"), Provider::OpenAI);
/// assert_eq!(infer_provider("o3-mini"), Provider::OpenAI);
/// assert_eq!(infer_provider("claude-3-haiku-20240307"), Provider::Anthropic);
/// assert_eq!(infer_provider("Gemini-2.5-pro"), Provider::Google);
/// assert_eq!(infer_provider("llama-3-70b"), Provider::Unknown);
/// ```
pub fn infer_provider(model: &str) -> Provider {
    let bytes = model.as_bytes();
    PREFIXES
        .iter()
        .find(|(prefix, _)| {
            bytes.len() >= prefix.len()
                && bytes[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        })
        .map_or(Provider::Unknown, |&(_, provider)| provider)
}

/// The current Unix time in milliseconds (0 if the clock is before 1970).
pub fn current_time_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_maps_to_its_provider() {
        let cases = [
            ("gpt-4", Provider::OpenAI),
            ("GPT-4O", Provider::OpenAI),
            ("o1-preview", Provider::OpenAI),
            ("o1", Provider::OpenAI),
            ("o3", Provider::OpenAI),
            ("o4-mini", Provider::OpenAI),
            ("chatgpt-4o-latest", Provider::OpenAI),
            ("text-embedding-3-small", Provider::OpenAI),
            ("dall-e-3", Provider::OpenAI),
            ("whisper-1", Provider::OpenAI),
            ("tts-1-hd", Provider::OpenAI),
            ("claude-3-opus-20240229", Provider::Anthropic),
            ("gemini-1.5-flash", Provider::Google),
            ("mistral-large-latest", Provider::Mistral),
            ("codestral-latest", Provider::Mistral),
            ("ministral-8b-latest", Provider::Mistral),
            ("pixtral-large-latest", Provider::Mistral),
            ("magistral-medium", Provider::Mistral),
            ("deepseek-chat", Provider::DeepSeek),
            ("grok-3", Provider::XAI),
            ("", Provider::Unknown),
            ("o", Provider::Unknown),
            ("openai/gpt-4", Provider::OpenAI),
            ("OpenAI/gpt-4o", Provider::OpenAI),
            ("anthropic/claude-3-opus", Provider::Anthropic),
            ("mistralai/mistral-large", Provider::Mistral),
            ("x-ai/grok-4", Provider::XAI),
            ("openrouter/openai/gpt-4", Provider::Unknown),
            ("llama-3.1-70b", Provider::Unknown),
            ("gpt", Provider::Unknown),
        ];
        for (model, expected) in cases {
            assert_eq!(infer_provider(model), expected, "{model}");
        }
    }

    #[test]
    fn names_round_trip_and_map_to_the_wire() {
        for p in Provider::ALL {
            assert_eq!(Provider::from_name(p.as_str()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Provider::from_name("OpenAI"), Some(Provider::OpenAI));
        assert_eq!(Provider::from_name("nope"), None);
        assert_eq!(Provider::wire_name("openai"), "openai");
        assert_eq!(Provider::wire_name("xai"), "unknown");
        assert_eq!(Provider::wire_name("my-gateway"), "unknown");
    }

    #[test]
    fn clock_is_unix_milliseconds() {
        // 2020-01-01 and 2100-01-01: a loose bracket, not a wall-clock assertion.
        let now = current_time_ms();
        assert!(now > 1_577_836_800_000 && now < 4_102_444_800_000, "{now}");
    }
}
