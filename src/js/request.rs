//! What the throttler reads of a `fetch` call before sending it: the URL
//! (checked as `fetch` checks it), the body for the estimate, whether the
//! body can be sent again, and a `Request`'s own signal.
//!
//! A body given as a JS string is not copied into the core: the estimate
//! reads it through [`JsText`] a chunk at a time, and finds the end of a
//! long payload (base64 of an image or a PDF) with the string's own
//! `indexOf`. So reading a 20 MB body with one image takes about as long
//! as reading its text (see crate::estimate::Source).

use super::convert::{describe as describe_value, get, type_error};
use crate::estimate::Source;
use js_sys::{JsString, Uint8Array};
use std::borrow::Cow;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

#[wasm_bindgen]
extern "C" {
    /// `String(value)`: the conversion `fetch` applies to an input that is
    /// not a `Request` (WebIDL's USVString); throws for a symbol.
    #[wasm_bindgen(js_name = String, catch)]
    fn to_js_string(value: &JsValue) -> Result<JsString, JsValue>;
}

/// What the throttler reads from a request before sending it.
pub(crate) struct RequestInfo {
    pub(crate) origin: String,
    /// The body, where it can be read without consuming it.
    pub(crate) body: Option<Body>,
    /// Whether the body can be sent again on a retry.
    pub(crate) replayable: bool,
    /// A `Request` input's own signal.
    pub(crate) signal: Option<AbortSignal>,
}

/// A body the estimate can read.
pub(crate) enum Body {
    /// A JS string, read in place.
    Text(JsText),
    /// Bytes, decoded as UTF-8.
    Bytes(String),
}

impl Body {
    pub(crate) fn source(&self) -> &dyn Source {
        match self {
            Body::Text(text) => text,
            Body::Bytes(text) => text,
        }
    }
}

/// Read the URL origin, body and replayability of `fetch` arguments, or
/// `None` when the body is inside a `Request` and must be read first. An
/// input that is no URL rejects as `fetch` would, with a `TypeError`.
pub(crate) fn prepare(input: &JsValue, init: &JsValue) -> Option<Result<RequestInfo, JsValue>> {
    let body = get(init, "body");
    let request = input.dyn_ref::<web_sys::Request>();
    if body.is_undefined() && request.is_some_and(|r| r.body().is_some()) {
        return None;
    }
    Some(describe(input, init, body_of(&body)))
}

/// [`prepare`] for a `Request` with a body: read a copy of it.
pub(crate) async fn read_request_body(input: &JsValue, init: &JsValue) -> Result<RequestInfo, JsValue> {
    let copy = input.dyn_ref::<web_sys::Request>().and_then(|r| r.clone().ok()).and_then(|c| c.text().ok());
    let text = match copy {
        Some(promise) => JsFuture::from(promise).await.ok().and_then(|t| t.dyn_into::<JsString>().ok()),
        None => None,
    };
    describe(input, init, text.map(|t| Body::Text(JsText(t))))
}

fn describe(input: &JsValue, init: &JsValue, body: Option<Body>) -> Result<RequestInfo, JsValue> {
    let url = url_of(input)?;
    // A URL with no origin of its own (relative, in a page) is the page's:
    // its partition key never holds its path or query.
    let origin = web_sys::Url::new(&url).map(|u| u.origin()).unwrap_or_default();
    let signal = input.dyn_ref::<web_sys::Request>().map(|r| r.signal());
    // Only the bodies fetch reads afresh on every send are replayed: none,
    // text, bytes, Blob, URLSearchParams, FormData. Anything else (a stream,
    // an async iterable) is read once, so a retry would send it empty. A
    // Request is copied before each send, so it replays too.
    let given = get(init, "body");
    let replayable = given.is_undefined()
        || given.is_null()
        || given.is_string()
        || given.is_instance_of::<js_sys::ArrayBuffer>()
        || js_sys::ArrayBuffer::is_view(&given)
        || given.is_instance_of::<web_sys::Blob>()
        || given.is_instance_of::<web_sys::UrlSearchParams>()
        || given.is_instance_of::<web_sys::FormData>();
    Ok(RequestInfo { origin, body, replayable, signal })
}

/// The URL of a `fetch` input: a string as it is (`fetch` resolves a
/// relative one where it can), a `Request`'s `url`, a `URL`'s `href`.
/// Anything else is turned into a string as `fetch` turns it, and must then
/// be an absolute URL (or one relative to the page, in a browser); if not,
/// a `TypeError` names the value, as the global `fetch` does.
fn url_of(input: &JsValue) -> Result<String, JsValue> {
    if let Some(url) = input.as_string() {
        return Ok(url);
    }
    if let Some(url) = get(input, "url").as_string().or_else(|| get(input, "href").as_string()) {
        return Ok(url);
    }
    let bad = || type_error(format!("Failed to parse URL from {}: `fetch` takes a URL string, a URL or a Request", describe_value(input)));
    let text: String = to_js_string(input).map_err(|_| bad())?.into();
    let base = get(&get(&js_sys::global(), "location"), "href").as_string();
    let parsed = match &base {
        Some(base) => web_sys::Url::new_with_base(&text, base),
        None => web_sys::Url::new(&text),
    };
    parsed.map(|_| text).map_err(|_| bad())
}

/// The body given in `init`, where it is text or bytes.
fn body_of(body: &JsValue) -> Option<Body> {
    if let Some(text) = body.dyn_ref::<JsString>() {
        Some(Body::Text(JsText(text.clone())))
    } else if let Some(bytes) = body.dyn_ref::<Uint8Array>() {
        Some(Body::Bytes(String::from_utf8_lossy(&bytes.to_vec()).into_owned()))
    } else if body.is_instance_of::<js_sys::ArrayBuffer>() {
        Some(Body::Bytes(String::from_utf8_lossy(&Uint8Array::new(body).to_vec()).into_owned()))
    } else {
        None
    }
}

/// A JS string as a [`Source`]: positions are UTF-16 code units; text is
/// copied out a chunk at a time; searches run in JS (`indexOf`).
pub(crate) struct JsText(JsString);

impl Source for JsText {
    fn len(&self) -> usize {
        self.0.length() as usize
    }

    fn text(&self, from: usize, to: usize) -> (Cow<'_, str>, usize) {
        let len = self.len();
        let from = from.min(len);
        let mut to = to.clamp(from, len);
        // Never end between the two halves of a surrogate pair.
        if to > from && to < len && (0xD800..0xDC00).contains(&(self.0.char_code_at(to as u32 - 1) as u32)) {
            to += 1;
        }
        (Cow::Owned(self.0.slice(from as u32, to as u32).into()), to)
    }

    fn find(&self, byte: u8, from: usize) -> Option<usize> {
        let at = self.0.index_of(char::from(byte).encode_utf8(&mut [0; 4]), from.min(i32::MAX as usize) as i32);
        usize::try_from(at).ok()
    }

    fn units(&self, ch: char) -> usize {
        ch.len_utf16()
    }
}
