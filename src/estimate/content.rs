//! What the parts of a request's content cost: text by its characters,
//! images by their size, documents by their pages, as each provider charges.
//!
//! The content blocks read (what each SDK sends):
//! - Anthropic Messages: `image` and `document` blocks with a `source` of
//!   type `base64`, `url`, `file` (an id), `text` or `content`; anywhere in
//!   `messages`, `system` or a `tool_result`'s content.
//! - OpenAI Chat Completions: `image_url` parts (`{ url, detail }`, the URL a
//!   data URL or a link) and `file` parts (`file_data` or `file_id`).
//! - OpenAI Responses: `input_image` (`image_url` or `file_id`, `detail`)
//!   and `input_file` (`file_data`, `file_id` or `file_url`).
//!
//! Counted, not guessed: text, and images whose size their header gives.
//! Guessed: an image by link or file id (the provider's most for one image),
//! a document's pages (what a page costs depends on its text), an image
//! whose header cannot be read. A guess never makes a call unsendable (see
//! [`crate::budget::Cost::guessed_input_tokens`]). No base64 is ever weighed
//! as text.

use super::image::{self, Detail};
use super::json::{weigh_span, Str, Value};
use super::payload::{self, Payload};
use super::pdf;
use super::source::Source;

/// Text tokens per PDF page, beside the page's image: Anthropic's PDF guide
/// gives 1,500 to 3,000 "depending on content density"; the upper end, as
/// an estimate errs high.
pub const PDF_PAGE_TEXT_TOKENS: f64 = 3000.0;

/// Pages assumed for a document given by link or file id.
pub const DOCUMENT_GUESS_PAGES: f64 = 10.0;

/// Which provider's rules an image or document block follows.
#[derive(Clone, Copy, PartialEq)]
enum Provider {
    Anthropic,
    OpenAi(Detail),
}

/// The tokens of a request's content, as they add up.
pub struct Tally<'a> {
    source: &'a dyn Source,
    model: Option<&'a str>,
    /// Text, by its characters (rounded up at the end).
    pub text: f64,
    /// Images and documents counted from their bytes.
    pub counted: f64,
    /// Images and documents guessed at.
    pub guessed: f64,
}

impl<'a> Tally<'a> {
    pub fn new(source: &'a dyn Source, model: Option<&'a str>) -> Tally<'a> {
        Tally { source, model, text: 0.0, counted: 0.0, guessed: 0.0 }
    }

    /// Add everything below `value`.
    pub fn add(&mut self, value: &Value) {
        match value {
            Value::Str(s) => self.add_string(s),
            Value::Array(items) => items.iter().for_each(|item| self.add(item)),
            Value::Object(fields) => {
                let consumed = self.add_block(value);
                for (key, field) in fields {
                    if !key.is_some_and(|k| consumed.contains(&k)) {
                        self.add(field);
                    }
                }
            }
            _ => {}
        }
    }

    /// A string that no block rule consumed: text, unless it is base64.
    fn add_string(&mut self, s: &Str) {
        if !s.payload {
            self.text += s.tokens;
            return;
        }
        let head = s.text.as_deref().unwrap_or("");
        let binary = match payload::data_url(head) {
            Some((_, base64, _)) => base64,
            None => s.span.len() > head.len() && payload::looks_like_base64(head),
        };
        if !binary {
            self.text += weigh_span(self.source, &s.span);
        }
    }

    /// Cost a block by its type; returns the fields it consumed.
    fn add_block(&mut self, block: &Value) -> &'static [&'static str] {
        fn text_of(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str)
        }
        let detail = match text_of(block.get("detail")) {
            Some("low") => Detail::Low,
            _ => Detail::High,
        };
        match text_of(block.get("type")) {
            Some("image") => match block.get("source") {
                Some(source) => {
                    self.anthropic_source(source, true);
                    &["source"]
                }
                None => &[],
            },
            Some("document") => match block.get("source") {
                Some(source) => {
                    self.anthropic_source(source, false);
                    &["source"]
                }
                None => &[],
            },
            Some("image_url") => {
                let (url, detail) = match block.get("image_url") {
                    Some(Value::Str(url)) => (Some(url), detail),
                    Some(part) => (
                        match part.get("url") {
                            Some(Value::Str(url)) => Some(url),
                            _ => None,
                        },
                        if text_of(part.get("detail")) == Some("low") { Detail::Low } else { Detail::High },
                    ),
                    None => (None, detail),
                };
                self.linked(url, Provider::OpenAi(detail), true);
                &["image_url"]
            }
            Some("input_image") => {
                let url = match block.get("image_url") {
                    Some(Value::Str(url)) => Some(url),
                    _ => None,
                };
                self.linked(url, Provider::OpenAi(detail), true);
                &["image_url", "file_id"]
            }
            Some("file") => {
                let data = block.get("file").and_then(|f| f.get("file_data"));
                self.linked(str_of(data), Provider::OpenAi(Detail::High), false);
                &["file"]
            }
            Some("input_file") => {
                self.linked(str_of(block.get("file_data")), Provider::OpenAi(Detail::High), false);
                &["file_data", "file_id", "file_url"]
            }
            _ => &[],
        }
    }

    /// An Anthropic `source`: base64 data, a link or file id, plain text,
    /// or content blocks.
    fn anthropic_source(&mut self, source: &Value, is_image: bool) {
        let data = str_of(source.get("data"));
        match source.get("type").and_then(Value::as_str) {
            Some("base64") => match data {
                Some(data) => self.payload(data, 0, Provider::Anthropic, is_image),
                None => self.guess(Provider::Anthropic, is_image),
            },
            Some("text") => {
                if let Some(data) = data {
                    self.text += if data.payload { weigh_span(self.source, &data.span) } else { data.tokens };
                }
            }
            Some("content") => self.add(source.get("content").unwrap_or(&Value::Null)),
            _ => self.guess(Provider::Anthropic, is_image),
        }
    }

    /// An image or file given as a data URL, a link, or not at all (a file id).
    fn linked(&mut self, url: Option<&Str>, provider: Provider, is_image: bool) {
        let head = url.and_then(|u| u.text.as_deref()).unwrap_or("");
        match (url, payload::data_url(head)) {
            (Some(url), Some((media_type, true, prefix))) => {
                let is_image = is_image || media_type.starts_with("image/");
                self.payload(url, prefix, provider, is_image)
            }
            // A data URL of text (`data:text/plain,...`) is text.
            (Some(url), Some((_, false, _))) => self.text += weigh_span(self.source, &url.span),
            _ => self.guess(provider, is_image),
        }
    }

    /// Base64 bytes of an image or a document.
    fn payload(&mut self, string: &Str, skip: usize, provider: Provider, is_image: bool) {
        let bytes = Payload::new(self.source, string, skip);
        if is_image {
            match image::dimensions(&bytes) {
                Some((w, h)) => self.counted += self.image_tokens(w, h, provider),
                None => self.guess(provider, true),
            }
        } else {
            self.guessed += f64::from(pdf::pages(&bytes)) * self.page_tokens(provider);
        }
    }

    /// A part known only by link or id: the most one image costs, or
    /// [`DOCUMENT_GUESS_PAGES`] pages.
    fn guess(&mut self, provider: Provider, is_image: bool) {
        self.guessed += match (provider, is_image) {
            (Provider::Anthropic, true) => image::anthropic_max_tokens(self.model),
            (Provider::OpenAi(detail), true) => image::openai_max_tokens(detail, self.model),
            (_, false) => DOCUMENT_GUESS_PAGES * self.page_tokens(provider),
        };
    }

    fn image_tokens(&self, width: u32, height: u32, provider: Provider) -> f64 {
        match provider {
            Provider::Anthropic => image::anthropic_tokens(width, height, self.model),
            Provider::OpenAi(detail) => image::openai_tokens(width, height, detail, self.model),
        }
    }

    /// A PDF page: its text, and its image at the largest size (a page is
    /// sent as both).
    fn page_tokens(&self, provider: Provider) -> f64 {
        let image = match provider {
            Provider::Anthropic => image::anthropic_max_tokens(self.model),
            Provider::OpenAi(_) => image::openai_max_tokens(Detail::High, self.model),
        };
        PDF_PAGE_TEXT_TOKENS + image
    }
}

fn str_of(value: Option<&Value>) -> Option<&Str> {
    match value {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}
