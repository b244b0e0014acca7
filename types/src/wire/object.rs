//! Structs read from JSON objects only. serde's derive also reads a struct from an array of its fields in order
//! (`[3, 10]` for `{"max_attempts": 3, "delay_seconds": 10}`): no client means that, the API's schema does not allow
//! it, and a body taken that way would be acted on. Every struct a request body holds is read through [`Object`].
use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// `T`, read from a JSON object (an array is refused as the wrong type).
#[derive(Debug, Clone, PartialEq)]
pub struct Object<T>(pub T);

impl<T> Object<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        T::deserialize(Value::Object(map)).map(Object).map_err(D::Error::custom)
    }
}

/// For `#[serde(deserialize_with)]`: an optional struct field, given as an object.
pub fn optional<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<Object<T>>::deserialize(d)?.map(Object::into_inner))
}

/// For `#[serde(deserialize_with)]`: a list of structs, each given as an object.
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    Ok(Option::<Vec<Object<T>>>::deserialize(d)?.map(|items| items.into_iter().map(Object::into_inner).collect()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::RetryPolicy;

    #[test]
    fn an_object_is_read_and_an_array_is_refused() {
        let policy = json!({ "max_attempts": 3 });
        assert!(serde_json::from_value::<Object<RetryPolicy>>(policy.clone()).is_ok());
        let as_array: Vec<Value> = policy.as_object().unwrap().values().cloned().collect();
        assert!(serde_json::from_value::<RetryPolicy>(json!(as_array)).is_ok(), "serde's derive takes it");
        let err = serde_json::from_value::<Object<RetryPolicy>>(json!(as_array)).unwrap_err().to_string();
        assert!(err.contains("invalid type: sequence, expected a map"), "{err}");
    }
}
