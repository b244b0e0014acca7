//! Parameter values: scalars only, each rendered into a single argv element.
use std::collections::BTreeMap;

use serde_json::Value;

/// Parameter name → scalar JSON value (string, number or boolean).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(BTreeMap<String, Value>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter '{0}' must be a string, number or boolean")]
    NotScalar(String),
    #[error("parameter name '{0}' is not valid: use letters, digits and '_', not starting with a digit")]
    BadName(String),
    #[error("parameter '{0}' contains a NUL byte, which no argument can hold")]
    Nul(String),
    #[error("at most {MAX_PARAMS} parameters, got {0}")]
    TooMany(usize),
}

/// The most parameters one task or request may give.
pub const MAX_PARAMS: usize = 256;

/// Whether `name` can name a parameter: a letter or `_`, then letters, digits or `_`.
pub fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Params {
    pub fn parse(map: serde_json::Map<String, Value>) -> Result<Self, ParamError> {
        if map.len() > MAX_PARAMS {
            return Err(ParamError::TooMany(map.len()));
        }
        let mut out = BTreeMap::new();
        for (name, value) in map {
            if !is_param_name(&name) {
                return Err(ParamError::BadName(name));
            }
            if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                return Err(ParamError::NotScalar(name));
            }
            if value.as_str().is_some_and(|s| s.contains('\0')) {
                return Err(ParamError::Nul(name));
            }
            out.insert(name, value);
        }
        Ok(Self(out))
    }

    /// These params, overridden by `other` where both name a value.
    pub fn merged_with(&self, other: &Params) -> Params {
        let mut out = self.0.clone();
        out.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        Params(out)
    }

    /// The text a value stands for in an argv element.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}
