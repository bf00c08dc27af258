//! Core values as plain JS values, shaped as `JSON.parse` would make them:
//! structs and maps as objects, sequences and tuples as arrays, numbers as
//! numbers, `None` and `()` as `null`, a unit variant as its name and any
//! other variant as `{ name: value }`. A serializer of the crate's own: the
//! general one (serde-wasm-bindgen) weighed 6.7 KB of the `.wasm` (2.7 KB
//! gzipped) with its cache of property names, and the values crossed here
//! are few and small (a snapshot, an event, a parsed header set, what a
//! coordinator saves).

use js_sys::{Array, Object, Reflect};
use serde::ser::{self, Serialize};
use std::fmt::{self, Display};
use wasm_bindgen::JsValue;

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// `value` as a plain JS value.
pub(crate) fn value<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Unsupported> {
    value.serialize(ToJs)
}

/// A value JS cannot hold exactly: an integer past 2^53 (or a custom error
/// of a `Serialize` implementation, which the crate's types never make).
#[derive(Debug)]
pub(crate) struct Unsupported;

impl Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value a JS number cannot hold exactly")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: Display>(_: T) -> Unsupported {
        Unsupported
    }
}

struct ToJs;

/// An array being filled: a sequence, a tuple, a tuple struct.
pub(crate) struct Items(Array);

/// An object being filled: a struct, or a map (its keys as strings).
pub(crate) struct Fields {
    object: Object,
    key: Option<JsValue>,
}

/// A variant with data: `{ name: value }` once the value is made.
pub(crate) struct Variant<T> {
    name: &'static str,
    inner: T,
}

fn object_of(name: &str, value: &JsValue) -> JsValue {
    let object = Object::new();
    // Setting a property of a new plain object does not throw.
    let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    object.into()
}

fn integer(v: u64) -> Result<JsValue, Unsupported> {
    if v > MAX_SAFE_INTEGER {
        return Err(Unsupported);
    }
    Ok(JsValue::from_f64(v as f64))
}

/// The numbers a JS number holds exactly, whatever their value.
macro_rules! exact_numbers {
    ($($method:ident: $kind:ty),*) => {
        $(fn $method(self, v: $kind) -> Result<JsValue, Unsupported> {
            Ok(JsValue::from_f64(f64::from(v)))
        })*
    };
}

impl ser::Serializer for ToJs {
    type Ok = JsValue;
    type Error = Unsupported;
    type SerializeSeq = Items;
    type SerializeTuple = Items;
    type SerializeTupleStruct = Items;
    type SerializeTupleVariant = Variant<Items>;
    type SerializeMap = Fields;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Variant<Fields>;

    exact_numbers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_f32: f32);

    fn serialize_bool(self, v: bool) -> Result<JsValue, Unsupported> {
        Ok(JsValue::from_bool(v))
    }

    fn serialize_i64(self, v: i64) -> Result<JsValue, Unsupported> {
        integer(v.unsigned_abs())?;
        Ok(JsValue::from_f64(v as f64))
    }

    fn serialize_u64(self, v: u64) -> Result<JsValue, Unsupported> {
        integer(v)
    }

    fn serialize_f64(self, v: f64) -> Result<JsValue, Unsupported> {
        Ok(JsValue::from_f64(v))
    }

    fn serialize_char(self, v: char) -> Result<JsValue, Unsupported> {
        Ok(JsValue::from_str(v.encode_utf8(&mut [0; 4])))
    }

    fn serialize_str(self, v: &str) -> Result<JsValue, Unsupported> {
        Ok(JsValue::from_str(v))
    }

    /// As an array of numbers, as `JSON.parse` would give them.
    fn serialize_bytes(self, v: &[u8]) -> Result<JsValue, Unsupported> {
        Ok(v.iter().map(|byte| JsValue::from_f64(f64::from(*byte))).collect::<Array>().into())
    }

    fn serialize_none(self) -> Result<JsValue, Unsupported> {
        Ok(JsValue::NULL)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<JsValue, Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<JsValue, Unsupported> {
        Ok(JsValue::NULL)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<JsValue, Unsupported> {
        Ok(JsValue::NULL)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<JsValue, Unsupported> {
        Ok(JsValue::from_str(variant))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<JsValue, Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<JsValue, Unsupported> {
        Ok(object_of(variant, &value.serialize(ToJs)?))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Items, Unsupported> {
        Ok(Items(Array::new()))
    }

    fn serialize_tuple(self, _: usize) -> Result<Items, Unsupported> {
        Ok(Items(Array::new()))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Items, Unsupported> {
        Ok(Items(Array::new()))
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Variant<Items>, Unsupported> {
        Ok(Variant { name: variant, inner: Items(Array::new()) })
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Fields, Unsupported> {
        Ok(Fields { object: Object::new(), key: None })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields, Unsupported> {
        Ok(Fields { object: Object::new(), key: None })
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Variant<Fields>, Unsupported> {
        Ok(Variant { name: variant, inner: Fields { object: Object::new(), key: None } })
    }
}

impl Items {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.0.push(&value.serialize(ToJs)?);
        Ok(())
    }
}

/// The three kinds of array are filled alike.
macro_rules! items {
    ($kind:ident, $add:ident) => {
        impl ser::$kind for Items {
            type Ok = JsValue;
            type Error = Unsupported;

            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
                self.push(value)
            }

            fn end(self) -> Result<JsValue, Unsupported> {
                Ok(self.0.into())
            }
        }
    };
}

items!(SerializeSeq, serialize_element);
items!(SerializeTuple, serialize_element);
items!(SerializeTupleStruct, serialize_field);

impl ser::SerializeTupleVariant for Variant<Items> {
    type Ok = JsValue;
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.inner.push(value)
    }

    fn end(self) -> Result<JsValue, Unsupported> {
        Ok(object_of(self.name, &self.inner.0))
    }
}

impl Fields {
    fn set<T: Serialize + ?Sized>(&mut self, key: &JsValue, value: &T) -> Result<(), Unsupported> {
        // Setting a property of a new plain object does not throw.
        let _ = Reflect::set(&self.object, key, &value.serialize(ToJs)?);
        Ok(())
    }
}

impl ser::SerializeMap for Fields {
    type Ok = JsValue;
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.key = Some(key.serialize(ToJs)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let key = self.key.take().unwrap_or(JsValue::NULL);
        self.set(&key, value)
    }

    fn end(self) -> Result<JsValue, Unsupported> {
        Ok(self.object.into())
    }
}

impl ser::SerializeStruct for Fields {
    type Ok = JsValue;
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unsupported> {
        self.set(&JsValue::from_str(key), value)
    }

    fn end(self) -> Result<JsValue, Unsupported> {
        Ok(self.object.into())
    }
}

impl ser::SerializeStructVariant for Variant<Fields> {
    type Ok = JsValue;
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unsupported> {
        self.inner.set(&JsValue::from_str(key), value)
    }

    fn end(self) -> Result<JsValue, Unsupported> {
        Ok(object_of(self.name, &JsValue::from(self.inner.object)))
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[derive(Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        First,
    }

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
    enum Tagged {
        Paused { until_ms: f64 },
    }

    #[derive(Serialize)]
    enum Outer {
        Wrapped(u32),
        Pair(u8, bool),
        Named { x: i32 },
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        some_number: f64,
        missing: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u32>,
        items: Vec<(String, u8)>,
        kind: Kind,
        tagged: Tagged,
        outer: Vec<Outer>,
        unit: (),
        letter: char,
    }

    fn json(value: &impl Serialize) -> String {
        let value = super::value(value).expect("a value JS holds");
        js_sys::JSON::stringify(&value).expect("plain data").as_string().unwrap_or_default()
    }

    #[wasm_bindgen_test]
    fn values_come_out_as_json_parse_would_make_them() {
        let shape = Shape {
            some_number: 1.5,
            missing: None,
            skipped: None,
            items: vec![("a".into(), 1)],
            kind: Kind::First,
            tagged: Tagged::Paused { until_ms: 3.0 },
            outer: vec![Outer::Wrapped(7), Outer::Pair(2, true), Outer::Named { x: -4 }],
            unit: (),
            letter: 'é',
        };
        assert_eq!(
            json(&shape),
            r#"{"someNumber":1.5,"missing":null,"items":[["a",1]],"kind":"first","tagged":{"type":"paused","untilMs":3},"outer":[{"Wrapped":7},{"Pair":[2,true]},{"Named":{"x":-4}}],"unit":null,"letter":"é"}"#
        );
    }

    #[wasm_bindgen_test]
    fn an_integer_a_js_number_cannot_hold_exactly_is_refused() {
        assert_eq!(json(&((1u64 << 53) - 1)), "9007199254740991");
        assert_eq!(json(&(1 - (1i64 << 53))), "-9007199254740991");
        assert!(super::value(&(1u64 << 53)).is_err());
        assert!(super::value(&i64::MIN).is_err());
    }
}
