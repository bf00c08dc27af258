//! Conversions between JS values and core types.

use crate::schedule::Refusal;
use js_sys::{Array, Function, Object, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

thread_local! {
    /// The `HeadroomError` class, registered by the package's loader.
    static ERROR_CLASS: std::cell::RefCell<Option<Function>> = const { std::cell::RefCell::new(None) };
}

/// Register the class errors are made of (called once by each loader).
pub(crate) fn use_error_class(class: Function) {
    ERROR_CLASS.with(|slot| *slot.borrow_mut() = Some(class));
}

/// `new HeadroomError(code, message, details)`; before a class is registered
/// (the bare wasm, as in the wasm-bindgen tests), an `Error` with the same
/// `name`, `code` and details.
pub(crate) fn headroom_error(code: &str, message: &str, details: &Object) -> JsValue {
    let args = Array::of3(&JsValue::from_str(code), &JsValue::from_str(message), details);
    let made = ERROR_CLASS.with(|slot| slot.borrow().as_ref().map(|class| Reflect::construct(class, &args)));
    match made {
        Some(Ok(error)) => error,
        _ => {
            let error = js_sys::Error::new(message);
            set(&error, "name", &JsValue::from_str("HeadroomError"));
            set(&error, "code", &JsValue::from_str(code));
            Object::assign(&error, details);
            error.into()
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// `Array.from(value)`; a throwing iterator comes back as an error.
    #[wasm_bindgen(js_namespace = Array, js_name = from, catch)]
    fn array_from(value: &JsValue) -> Result<Array, JsValue>;
}

/// A core value as a plain JS value, as `JSON.parse` would make it (see
/// [`super::to_js`]).
pub(crate) fn to_plain<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    super::to_js::value(value).map_err(|_| js_sys::Error::new("headroom: could not convert a value to JS: a number past 2^53").into())
}

/// A `HeadroomError` for a refusal, with its numbers as properties.
pub(crate) fn refusal_error(refusal: &Refusal) -> JsValue {
    headroom_error(refusal.code(), &refusal.to_string(), &refusal_details(refusal))
}

/// A refusal as plain data that crosses to another isolate: its code,
/// message, dimension and numbers (read back by [`Refusal::from_parts`]).
pub(crate) fn refusal_plain(refusal: &Refusal) -> JsValue {
    let plain = refusal_details(refusal);
    set(&plain, "code", &JsValue::from_str(refusal.code()));
    set(&plain, "message", &JsValue::from_str(&refusal.to_string()));
    plain.into()
}

fn refusal_details(refusal: &Refusal) -> Object {
    let details = Object::new();
    if let Some(dimension) = refusal.dimension() {
        set(&details, Refusal::DIMENSION, &JsValue::from_str(dimension));
    }
    for (name, value) in refusal.numbers() {
        set(&details, name, &JsValue::from_f64(value));
    }
    details
}

pub(crate) fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a property on a plain object we made cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() && !target.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

thread_local! {
    /// JS strings of the property names read on every call, by the address
    /// and length of their text (one text may begin another's): made once,
    /// not decoded from wasm memory each time.
    static NAMES: std::cell::RefCell<Vec<((usize, usize), JsValue)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`get`] of a property the crate names on every call (an option, a
/// field of a `Response`): its name is a JS string made once.
pub(crate) fn prop(target: &JsValue, key: &'static str) -> JsValue {
    if !target.is_object() && !target.is_function() {
        return JsValue::UNDEFINED;
    }
    let at = (key.as_ptr() as usize, key.len());
    NAMES.with(|names| {
        // A getter may call back into headroom while the cache is in use
        // by this read: that nested read makes its name afresh.
        let Ok(mut names) = names.try_borrow_mut() else { return get(target, key) };
        let index = match names.iter().position(|(address, _)| *address == at) {
            Some(index) => index,
            None => {
                names.push((at, JsValue::from_str(key)));
                names.len() - 1
            }
        };
        Reflect::get(target, &names[index].1).unwrap_or(JsValue::UNDEFINED)
    })
}

/// A short description of a value for error messages: its own text for
/// numbers and booleans, the type for everything else (so a message never
/// repeats an object's contents, which may hold secrets).
pub(crate) fn describe(value: &JsValue) -> String {
    if let Some(n) = value.as_f64() {
        return format!("`{}` (number)", js_number(n));
    }
    if let Some(b) = value.as_bool() {
        return format!("`{b}` (boolean)");
    }
    if value.is_null() {
        return "`null`".into();
    }
    if value.is_undefined() {
        return "`undefined`".into();
    }
    if Array::is_array(value) {
        return "an array".into();
    }
    let kind = value.js_typeof().as_string().unwrap_or_default();
    match kind.as_str() {
        "string" => "a string".into(),
        "object" => "an object".into(),
        other => format!("a {other}"),
    }
}

/// A number as JS writes it (`Infinity`, `1e+21`), formatted by JS itself.
pub(crate) fn js_number(n: f64) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).map(String::from).unwrap_or_default()
}

/// A `TypeError` whose message starts with the package name, as every
/// message headroom writes does.
pub(crate) fn type_error(message: String) -> JsValue {
    js_sys::TypeError::new(&format!("headroom: {message}")).into()
}

/// Header name/value pairs from a `Headers`, a plain object (values may be
/// arrays, as Node's `IncomingHttpHeaders`) or an array of pairs.
pub(crate) fn header_pairs(headers: &JsValue, what: &str) -> Result<Vec<(String, String)>, JsValue> {
    let bad =
        || type_error(format!("expected `{what}` to be a Headers, a plain object or an array of [name, value] pairs, got {}", describe(headers)));
    let pair = |entry: JsValue| -> Result<(String, String), JsValue> {
        let entry: Array = entry.dyn_into().map_err(|_| bad())?;
        match (entry.length(), entry.get(0).as_string(), entry.get(1).as_string()) {
            (2, Some(name), Some(value)) => Ok((name, value)),
            _ => Err(bad()),
        }
    };
    if Array::is_array(headers) {
        return Array::from(headers).iter().map(pair).collect();
    }
    if !headers.is_object() {
        return Err(bad());
    }
    if headers.is_instance_of::<web_sys::Headers>() {
        // One crossing instead of several per header: `Array.from` gives
        // [name, value] pairs and `join` writes each as "name,value" on its
        // own line. A name holds no comma and a value no line break (RFC 9110
        // §5.1, §5.5; Headers enforces both), so the text splits back exactly.
        if let Ok(entries) = array_from(headers) {
            let text = String::from(entries.join("\n"));
            let pairs = text.lines().filter_map(|line| line.split_once(',')).map(|(n, v)| (n.to_string(), v.to_string()));
            return Ok(pairs.collect());
        }
    }
    if get(headers, "entries").is_function() && get(headers, "get").is_function() {
        // A Headers (or anything iterable like one).
        let iterator = js_sys::try_iter(headers).map_err(|_| bad())?.ok_or_else(bad)?;
        return iterator.map(|entry| pair(entry.map_err(|_| bad())?)).collect();
    }
    let mut pairs = Vec::new();
    // Reflect, not Object.entries: a getter or proxy trap that throws must
    // come back as an error here, not unwind through the wasm instance.
    let keys = Reflect::own_keys(headers.unchecked_ref()).map_err(|_| bad())?;
    for key in keys.iter() {
        let Some(name) = key.as_string() else { continue };
        let value = Reflect::get(headers, &key).map_err(|_| bad())?;
        if let Some(v) = value.as_string() {
            pairs.push((name, v));
        } else if Array::is_array(&value) {
            for v in Array::from(&value).iter().filter_map(|v| v.as_string()) {
                pairs.push((name.clone(), v));
            }
        } else if let Some(n) = value.as_f64() {
            pairs.push((name, js_number(n)));
        }
    }
    Ok(pairs)
}

/// The function to call as `fetch`: the configured one, else the global
/// `fetch` as it is now (looked up at each call, not at load).
pub(crate) fn resolve_fetch(configured: Option<&Function>) -> Result<Function, JsValue> {
    if let Some(f) = configured {
        return Ok(f.clone());
    }
    get(&js_sys::global(), "fetch")
        .dyn_into::<Function>()
        .map_err(|_| type_error("there is no global `fetch` in this runtime; pass one as the `fetch` option".into()))
}

/// A saved state as the store gives it back: plain JS data.
impl crate::coordinate::Plain for JsValue {
    fn field(&self, name: &str) -> Option<JsValue> {
        if !self.is_object() {
            return None;
        }
        Some(get(self, name)).filter(|v| !v.is_undefined())
    }

    fn number(&self) -> Option<f64> {
        self.as_f64()
    }

    fn text(&self) -> Option<String> {
        self.as_string()
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn items(&self) -> Option<Vec<JsValue>> {
        self.dyn_ref::<js_sys::Array>().map(|a| a.iter().collect())
    }

    fn is_null(&self) -> bool {
        JsValue::is_null(self)
    }
}
