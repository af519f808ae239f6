//! [`TokenUsage`]: the token counts of one request, normalized across providers.

/// Normalized usage of one request: `input_tokens` counts every prompt token
/// the provider processed, cached or not, and `output_tokens` every
/// completion token, reasoning included; the cache and reasoning counts are
/// parts of those (as in OpenTelemetry's GenAI conventions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokenUsage {
    /// Every prompt token processed (cached or not).
    pub input_tokens: u64,
    /// Every completion token (reasoning included).
    pub output_tokens: u64,
    /// The part of `input_tokens` read from the prompt cache.
    pub cache_read_tokens: u64,
    /// The part of `input_tokens` written to the cache for 5 minutes.
    pub cache_write_tokens: u64,
    /// The part of `input_tokens` written to the cache for 1 hour (Anthropic).
    pub cache_write_1h_tokens: u64,
    /// The part of `output_tokens` spent on reasoning.
    pub reasoning_tokens: u64,
}

/// A part of a [`TokenUsage`] larger than its whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// Cache reads and writes add up to more than the input tokens.
    #[error("cache reads and writes ({cache}) exceed the input tokens ({input}): input_tokens must count every prompt token, cached or not")]
    CacheExceedsInput {
        /// Cache reads + writes (saturated).
        cache: u64,
        /// Input tokens.
        input: u64,
    },
    /// Reasoning tokens are more than the output tokens.
    #[error("reasoning tokens ({reasoning}) exceed the output tokens ({output}): output_tokens must count every completion token, reasoning included")]
    ReasoningExceedsOutput {
        /// Reasoning tokens.
        reasoning: u64,
        /// Output tokens.
        output: u64,
    },
}

impl TokenUsage {
    /// `input_tokens` in and `output_tokens` out, no cache, no reasoning.
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

    /// Checks that every part fits in its whole.
    ///
    /// # Errors
    /// [`UsageError`] naming the part that does not.
    pub fn validate(&self) -> Result<(), UsageError> {
        let cache = self
            .cache_read_tokens
            .checked_add(self.cache_write_tokens)
            .and_then(|c| c.checked_add(self.cache_write_1h_tokens));
        match cache {
            Some(cache) if cache <= self.input_tokens => {}
            _ => {
                return Err(UsageError::CacheExceedsInput {
                    cache: self
                        .cache_read_tokens
                        .saturating_add(self.cache_write_tokens)
                        .saturating_add(self.cache_write_1h_tokens),
                    input: self.input_tokens,
                })
            }
        }
        if self.reasoning_tokens > self.output_tokens {
            return Err(UsageError::ReasoningExceedsOutput {
                reasoning: self.reasoning_tokens,
                output: self.output_tokens,
            });
        }
        Ok(())
    }
}
