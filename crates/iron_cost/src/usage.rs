//! The normalized token usage of one request, and how it can be inconsistent.

/// The tokens of one request, normalized the same way for every provider.
///
/// `input_tokens` counts every prompt token the provider processed, cached or
/// not (OpenAI's `prompt_tokens`; Anthropic's `input_tokens +
/// cache_read_input_tokens + cache_creation_input_tokens`), and
/// `output_tokens` every completion token, reasoning included. The other
/// counts are *parts* of those two, as in OpenTelemetry's GenAI conventions:
///
/// - `cache_read_tokens`, `cache_write_tokens` (5-minute cache writes) and
///   `cache_write_1h_tokens` (Anthropic's 1-hour cache writes) are parts of
///   `input_tokens`; what is left is billed at the plain input price;
/// - `reasoning_tokens` are part of `output_tokens` and billed with them.
///
/// [`validate`](Self::validate) checks that the parts fit in their wholes.
///
/// # Examples
///
/// ```
/// use iron_cost::TokenUsage;
///
/// // An Anthropic stream: 6 uncached + 6,289 cache-read + 3,337 cache-write prompt tokens.
/// let usage = TokenUsage::new(6 + 6_289 + 3_337, 410)
///     .with_cache_read_tokens(6_289)
///     .with_cache_write_tokens(3_337);
/// assert_eq!(usage.input_tokens, 9_632);
/// assert_eq!(usage.uncached_input_tokens(), 6);
/// assert!(usage.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokenUsage {
    /// Every prompt token processed, cached or not.
    pub input_tokens: u64,
    /// Every completion token, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache (part of `input_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to a 5-minute cache (part of `input_tokens`).
    pub cache_write_tokens: u64,
    /// Prompt tokens written to a 1-hour cache (part of `input_tokens`).
    pub cache_write_1h_tokens: u64,
    /// Completion tokens spent on reasoning (part of `output_tokens`).
    pub reasoning_tokens: u64,
}

impl TokenUsage {
    /// A usage with only totals: no cached and no reasoning tokens.
    #[must_use]
    pub const fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    /// Sets the prompt tokens read from the cache (a part of `input_tokens`).
    #[must_use]
    pub const fn with_cache_read_tokens(mut self, tokens: u64) -> Self {
        self.cache_read_tokens = tokens;
        self
    }

    /// Sets the prompt tokens written to a 5-minute cache (a part of `input_tokens`).
    #[must_use]
    pub const fn with_cache_write_tokens(mut self, tokens: u64) -> Self {
        self.cache_write_tokens = tokens;
        self
    }

    /// Sets the prompt tokens written to a 1-hour cache (a part of `input_tokens`).
    #[must_use]
    pub const fn with_cache_write_1h_tokens(mut self, tokens: u64) -> Self {
        self.cache_write_1h_tokens = tokens;
        self
    }

    /// Sets the completion tokens spent on reasoning (a part of `output_tokens`).
    #[must_use]
    pub const fn with_reasoning_tokens(mut self, tokens: u64) -> Self {
        self.reasoning_tokens = tokens;
        self
    }

    /// Checks that every part fits in its whole.
    ///
    /// # Errors
    ///
    /// - [`UsageError::CachedTokensExceedInput`] if `cache_read_tokens +
    ///   cache_write_tokens + cache_write_1h_tokens` is more than
    ///   `input_tokens` (a sum past `u64::MAX` included);
    /// - [`UsageError::ReasoningTokensExceedOutput`] if `reasoning_tokens` is
    ///   more than `output_tokens`.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::{TokenUsage, UsageError};
    ///
    /// // Anthropic's `input_tokens` alone (6) is only the uncached part: not a total.
    /// let wrong = TokenUsage::new(6, 410).with_cache_read_tokens(6_289);
    /// assert!(matches!(wrong.validate(), Err(UsageError::CachedTokensExceedInput { .. })));
    /// ```
    pub fn validate(&self) -> Result<(), UsageError> {
        let cached = self
            .cache_read_tokens
            .checked_add(self.cache_write_tokens)
            .and_then(|sum| sum.checked_add(self.cache_write_1h_tokens));
        if cached.is_none_or(|cached| cached > self.input_tokens) {
            return Err(UsageError::CachedTokensExceedInput {
                input_tokens: self.input_tokens,
                cache_read_tokens: self.cache_read_tokens,
                cache_write_tokens: self.cache_write_tokens,
                cache_write_1h_tokens: self.cache_write_1h_tokens,
            });
        }
        if self.reasoning_tokens > self.output_tokens {
            return Err(UsageError::ReasoningTokensExceedOutput {
                output_tokens: self.output_tokens,
                reasoning_tokens: self.reasoning_tokens,
            });
        }
        Ok(())
    }

    /// The prompt tokens billed at the plain input price: `input_tokens`
    /// less the cached parts, clamped as [`CachedParts`] describes.
    #[must_use]
    pub fn uncached_input_tokens(&self) -> u64 {
        self.cached_parts().uncached
    }

    /// Splits `input_tokens` into its priced parts. The cached parts are taken
    /// in order (read, 5-minute write, 1-hour write), each clamped to what is
    /// left of `input_tokens`, so an invalid usage never underflows: its
    /// excess cached tokens are simply not counted.
    pub(crate) fn cached_parts(&self) -> CachedParts {
        let cache_read = self.cache_read_tokens.min(self.input_tokens);
        let left = self.input_tokens - cache_read;
        let cache_write = self.cache_write_tokens.min(left);
        let left = left - cache_write;
        let cache_write_1h = self.cache_write_1h_tokens.min(left);
        CachedParts {
            uncached: left - cache_write_1h,
            cache_read,
            cache_write,
            cache_write_1h,
        }
    }
}

/// `input_tokens` split into parts that add up to it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachedParts {
    pub(crate) uncached: u64,
    pub(crate) cache_read: u64,
    pub(crate) cache_write: u64,
    pub(crate) cache_write_1h: u64,
}

/// Why a [`TokenUsage`] is inconsistent: a part is larger than its whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The cached prompt tokens add up to more than all prompt tokens.
    #[error(
        "cache_read_tokens + cache_write_tokens + cache_write_1h_tokens \
         ({cache_read_tokens} + {cache_write_tokens} + {cache_write_1h_tokens}) exceed \
         input_tokens ({input_tokens}); input_tokens must count every prompt token, \
         cached or not (for Anthropic: input_tokens + cache_read_input_tokens + \
         cache_creation_input_tokens)"
    )]
    CachedTokensExceedInput {
        /// All prompt tokens, as given.
        input_tokens: u64,
        /// Cache-read tokens, as given.
        cache_read_tokens: u64,
        /// 5-minute cache-write tokens, as given.
        cache_write_tokens: u64,
        /// 1-hour cache-write tokens, as given.
        cache_write_1h_tokens: u64,
    },

    /// The reasoning tokens are more than all completion tokens.
    #[error(
        "reasoning_tokens ({reasoning_tokens}) exceed output_tokens ({output_tokens}); \
         output_tokens must count every completion token, reasoning included"
    )]
    ReasoningTokensExceedOutput {
        /// All completion tokens, as given.
        output_tokens: u64,
        /// Reasoning tokens, as given.
        reasoning_tokens: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_that_fit_are_valid() {
        let usage = TokenUsage::new(10, 5)
            .with_cache_read_tokens(4)
            .with_cache_write_tokens(3)
            .with_cache_write_1h_tokens(3)
            .with_reasoning_tokens(5);
        assert_eq!(usage.validate(), Ok(()));
        assert_eq!(usage.uncached_input_tokens(), 0);
        assert_eq!(TokenUsage::default().validate(), Ok(()));
    }

    #[test]
    fn cached_parts_past_the_input_are_refused_even_when_their_sum_overflows() {
        let over = TokenUsage::new(10, 0)
            .with_cache_read_tokens(4)
            .with_cache_write_1h_tokens(7);
        assert!(matches!(
            over.validate(),
            Err(UsageError::CachedTokensExceedInput {
                input_tokens: 10,
                cache_read_tokens: 4,
                cache_write_1h_tokens: 7,
                ..
            })
        ));
        let overflow = TokenUsage::new(u64::MAX, 0)
            .with_cache_read_tokens(u64::MAX)
            .with_cache_write_tokens(1);
        assert!(overflow.validate().is_err());
        let text = over.validate().expect_err("invalid").to_string();
        assert!(
            text.contains("(4 + 0 + 7) exceed input_tokens (10)"),
            "{text}"
        );
    }

    #[test]
    fn reasoning_past_the_output_is_refused() {
        let usage = TokenUsage::new(0, 3).with_reasoning_tokens(4);
        assert_eq!(
            usage.validate(),
            Err(UsageError::ReasoningTokensExceedOutput {
                output_tokens: 3,
                reasoning_tokens: 4
            })
        );
    }

    #[test]
    fn cached_parts_are_clamped_in_order_and_always_add_up() {
        let usage = TokenUsage::new(10, 0)
            .with_cache_read_tokens(6)
            .with_cache_write_tokens(6)
            .with_cache_write_1h_tokens(6);
        assert_eq!(
            usage.cached_parts(),
            CachedParts {
                uncached: 0,
                cache_read: 6,
                cache_write: 4,
                cache_write_1h: 0
            }
        );
        let max = TokenUsage::new(u64::MAX, 0).with_cache_write_tokens(u64::MAX);
        assert_eq!(max.cached_parts().cache_write, u64::MAX);
        assert_eq!(max.uncached_input_tokens(), 0);
    }
}
