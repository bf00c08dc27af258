//! What an answer says its prompt was: the `usage` of a JSON answer, read
//! to calibrate the estimate (see `crate::schedule::Scheduler::learn_input`).

/// The whole prompt's input tokens from the fields of an answer's `usage`
/// (`field` reads one as a number), cached parts included: the estimate
/// is of the whole prompt. Anthropic's `input_tokens` leaves out the
/// prompt cache's reads and writes (`cache_read_input_tokens`,
/// `cache_creation_input_tokens`); OpenAI's Responses `input_tokens` and
/// Chat Completions `prompt_tokens` count them. `None` when it names none.
pub fn prompt_tokens(field: impl Fn(&str) -> Option<f64>) -> Option<f64> {
    let valid = |name: &str| field(name).filter(|n| n.is_finite() && *n >= 0.0);
    let input = valid("input_tokens").or_else(|| valid("prompt_tokens"))?;
    let cached: f64 = ["cache_read_input_tokens", "cache_creation_input_tokens"].iter().filter_map(|name| valid(name)).sum();
    Some(input + cached)
}

#[cfg(test)]
mod tests {
    use super::prompt_tokens;

    fn read(usage: &[(&str, f64)]) -> Option<f64> {
        prompt_tokens(|name| usage.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn each_provider_s_usage_gives_the_whole_prompt() {
        // Anthropic: uncached input, plus cache reads and writes.
        let anthropic = [("input_tokens", 50.0), ("cache_read_input_tokens", 4_000.0), ("cache_creation_input_tokens", 0.0), ("output_tokens", 9.0)];
        assert_eq!(read(&anthropic), Some(4_050.0));
        // OpenAI Chat Completions and Responses: the whole prompt already.
        assert_eq!(read(&[("prompt_tokens", 1_200.0), ("completion_tokens", 30.0)]), Some(1_200.0));
        assert_eq!(read(&[("input_tokens", 1_200.0), ("output_tokens", 30.0)]), Some(1_200.0));
        assert_eq!(read(&[("output_tokens", 30.0)]), None);
        assert_eq!(read(&[("input_tokens", f64::NAN)]), None);
    }
}
