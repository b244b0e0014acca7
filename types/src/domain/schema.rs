//! A task's parameter schema: a JSON Schema (draft 2020-12) object that says which parameters a task takes, their
//! types and constraints (integer, number, boolean, string with enum, pattern or length; required; default). It is
//! checked when the task is stored (its defaults must fit) and at every execute, and published with the task so
//! forms and clients can use it. References are resolved only inside the document: nothing is fetched, no file is
//! read; patterns use a linear-time regex engine.
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, PatternOptions, Validator};
use serde_json::Value;

use super::params::Params;

/// Errors past this many are summed up as "and more".
const MAX_REPORTED: usize = 5;
/// Each error message is cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 300;
/// The most a compiled `pattern` may take (the regex engine's size limits): bounds compile time and memory.
const MAX_PATTERN_BYTES: usize = 256 * 1024;
/// Compiled validators kept for schemas in use (by document), so that an execute does not compile again.
const CACHED_VALIDATORS: usize = 128;
/// The largest schema document, serialised.
const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// The most schema nodes a document may hold with every `$ref` expanded where it stands: validation work grows
/// with it (a chain of `anyOf`s over `$ref`s doubles it per link), so it is bounded when the schema is stored.
const MAX_EXPANDED_NODES: u64 = 10_000;

/// Refuses documents whose validation could cost more than [`MAX_EXPANDED_NODES`] nodes, and the references it
/// cannot bound: `$dynamicRef`/`$recursiveRef`, cycles, `$id` below the root (it moves where `#/...` points), and
/// anything but a JSON pointer into this document.
fn check_cost(document: &Value) -> Result<(), String> {
    let size = document.to_string().len();
    if size > MAX_SCHEMA_BYTES {
        return Err(format!("params_schema is {size} bytes; at most {MAX_SCHEMA_BYTES}"));
    }
    let mut walk = CostWalk { document, memo: HashMap::new(), stack: Vec::new() };
    let nodes = walk.cost(document, true)?;
    if nodes > MAX_EXPANDED_NODES {
        return Err(format!(
            "params_schema is too costly to check: {nodes} schema nodes with its $refs expanded; at most \
             {MAX_EXPANDED_NODES}"
        ));
    }
    Ok(())
}

struct CostWalk<'a> {
    document: &'a Value,
    memo: HashMap<String, u64>,
    stack: Vec<String>,
}

impl CostWalk<'_> {
    fn cost(&mut self, node: &Value, root: bool) -> Result<u64, String> {
        let mut total = 1u64;
        match node {
            Value::Object(map) => {
                for (key, value) in map {
                    total = total.saturating_add(match key.as_str() {
                        "$ref" => self.reference(value)?,
                        "$dynamicRef" | "$recursiveRef" => {
                            return Err(format!("params_schema: {key} is not supported; use \"$ref\": \"#/...\""));
                        }
                        "$id" if !root => return Err("params_schema: $id is supported only at the root".into()),
                        // Values, not schemas.
                        "enum" | "const" | "default" | "examples" => 1,
                        // Maps from names (which may be anything, "default" too) to schemas.
                        "properties" | "patternProperties" | "dependentSchemas" | "$defs" | "definitions" => {
                            self.name_map(value)?
                        }
                        _ => self.cost(value, false)?,
                    });
                    if total > MAX_EXPANDED_NODES {
                        return Ok(total);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    total = total.saturating_add(self.cost(item, false)?);
                    if total > MAX_EXPANDED_NODES {
                        return Ok(total);
                    }
                }
            }
            _ => {}
        }
        Ok(total)
    }

    fn name_map(&mut self, map: &Value) -> Result<u64, String> {
        let Value::Object(entries) = map else { return self.cost(map, false) };
        let mut total = 1u64;
        for schema in entries.values() {
            total = total.saturating_add(self.cost(schema, false)?);
            if total > MAX_EXPANDED_NODES {
                break;
            }
        }
        Ok(total)
    }

    fn reference(&mut self, target: &Value) -> Result<u64, String> {
        let Some(pointer) = target.as_str().and_then(|r| r.strip_prefix('#')) else {
            return Err(format!(
                "params_schema: $ref {target} is not supported: only \"#\" and \"#/...\" (inside the document)"
            ));
        };
        if !(pointer.is_empty() || pointer.starts_with('/')) || pointer.contains('%') {
            return Err(format!("params_schema: $ref \"#{pointer}\" is not a plain JSON pointer into the document"));
        }
        if let Some(cost) = self.memo.get(pointer) {
            return Ok(*cost);
        }
        if self.stack.iter().any(|p| p == pointer) {
            return Err(format!("params_schema: $ref \"#{pointer}\" refers to itself (cycles are not supported)"));
        }
        let node = self
            .document
            .pointer(pointer)
            .ok_or_else(|| format!("params_schema: $ref \"#{pointer}\" points at nothing in the document"))?;
        self.stack.push(pointer.to_string());
        let cost = self.cost(node, false);
        self.stack.pop();
        let cost = cost?;
        self.memo.insert(pointer.to_string(), cost);
        Ok(cost)
    }
}

/// A schema document and its validator, compiled when first needed (a task read from the store pays for it only
/// when it is executed, not when it is listed).
#[derive(Clone)]
pub struct ParamsSchema {
    document: Value,
    validator: Arc<OnceLock<Result<Arc<Validator>, String>>>,
}

/// The validator of `document`: from the cache of schemas in use, or compiled (patterns size-limited) and kept.
fn compiled(document: &Value) -> Result<Arc<Validator>, String> {
    static CACHE: Mutex<Option<HashMap<String, Arc<Validator>>>> = Mutex::new(None);
    let key = document.to_string();
    if let Some(hit) = CACHE.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_default().get(&key) {
        return Ok(hit.clone());
    }
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_pattern_options(PatternOptions::regex().size_limit(MAX_PATTERN_BYTES).dfa_size_limit(MAX_PATTERN_BYTES))
        .should_validate_formats(true)
        .build(document)
        .map(Arc::new)
        .map_err(|e| {
            let text: String = e.to_string().chars().take(MAX_MESSAGE_CHARS).collect();
            format!("params_schema is not a valid JSON Schema (draft 2020-12): {text}")
        })?;
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_default();
    if cache.len() >= CACHED_VALIDATORS {
        cache.clear();
    }
    cache.insert(key, validator.clone());
    Ok(validator)
}

impl fmt::Debug for ParamsSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ParamsSchema").field(&self.document).finish()
    }
}

impl PartialEq for ParamsSchema {
    fn eq(&self, other: &Self) -> bool {
        self.document == other.document
    }
}

impl ParamsSchema {
    /// Compiles a schema document; the message says what is wrong with it.
    pub fn parse(document: Value) -> Result<Self, String> {
        if !document.is_object() {
            return Err(
                "params_schema must be a JSON Schema object, like {\"type\": \"object\", \"properties\": {}}".into()
            );
        }
        check_cost(&document)?;
        let schema = Self::stored(document);
        schema.validator()?;
        Ok(schema)
    }

    /// A document that was checked when it was stored; it is compiled at its first use.
    pub fn stored(document: Value) -> Self {
        Self { document, validator: Arc::new(OnceLock::new()) }
    }

    fn validator(&self) -> Result<&Validator, String> {
        self.validator.get_or_init(|| compiled(&self.document)).as_ref().map(|v| &**v).map_err(Clone::clone)
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The scalar `default`s of the schema's top-level properties: parameter values used when neither the task nor
    /// the request gives one.
    pub fn defaults(&self) -> Params {
        let defaults = self.document.get("properties").and_then(Value::as_object).into_iter().flatten().filter_map(
            |(name, property)| {
                let value = property.get("default")?;
                (value.is_string() || value.is_number() || value.is_boolean()).then(|| (name.clone(), value.clone()))
            },
        );
        Params::parse(defaults.collect()).unwrap_or_default()
    }

    /// Checks parameter values. With `partial`, missing required parameters are not an error (a task's stored
    /// defaults need not hold every value; the execute request brings the rest).
    pub fn check(&self, params: &Params, partial: bool) -> Result<(), String> {
        let instance = params.to_json();
        let validator = self.validator()?;
        if validator.is_valid(&instance) {
            return Ok(());
        }
        // Only as many errors as are reported, each cut short: a message repeats its keyword's value (a long
        // pattern), and a schema can fail one value many times over.
        let problems: Vec<String> = validator
            .iter_errors(&instance)
            .filter(|e| !(partial && matches!(e.kind(), ValidationErrorKind::Required { .. })))
            .take(MAX_REPORTED + 1)
            .map(|e| {
                let at = e.instance_path().to_string();
                let name = at.trim_start_matches('/');
                let text: String = e.to_string().chars().take(MAX_MESSAGE_CHARS).collect();
                if name.is_empty() { text } else { format!("parameter '{name}': {text}") }
            })
            .collect();
        match problems.len() {
            0 => Ok(()),
            n if n > MAX_REPORTED => Err(format!("{} (and more)", problems[..MAX_REPORTED].join("; "))),
            _ => Err(problems.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A chain of `anyOf`s over `$ref`s: each link doubles the work of checking a value.
    fn fan_out(links: usize) -> Value {
        let mut defs = serde_json::Map::new();
        for i in 0..links {
            let next = json!({ "$ref": format!("#/$defs/d{}", i + 1) });
            defs.insert(format!("d{i}"), json!({ "anyOf": [next.clone(), next] }));
        }
        defs.insert(format!("d{links}"), json!({ "type": "integer" }));
        json!({ "$defs": defs, "properties": { "x": { "$ref": "#/$defs/d0" } } })
    }

    #[test]
    fn schemas_that_cost_too_much_to_check_are_refused_when_stored() {
        assert!(ParamsSchema::parse(fan_out(4)).is_ok());
        let started = std::time::Instant::now();
        let err = ParamsSchema::parse(fan_out(24)).unwrap_err();
        assert!(err.contains("too costly"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "refusing took {:?}", started.elapsed());
        // A fan-out hidden under a property named like a value keyword is counted all the same.
        let mut hidden = fan_out(24);
        let defs = hidden["$defs"].take();
        let hidden = json!({ "properties": { "default": { "$defs": defs, "$ref": "#/properties/default/$defs/d0" } } });
        let text = hidden.to_string().replace("#/$defs/", "#/properties/default/$defs/");
        assert!(ParamsSchema::parse(serde_json::from_str(&text).unwrap()).unwrap_err().contains("too costly"));
        // Patterns whose compiled form is huge are refused, fast.
        let started = std::time::Instant::now();
        let heavy: serde_json::Map<String, Value> = (0..40)
            .map(|i| {
                (format!("p{i}"), json!({ "type": "string", "pattern": format!("[\\w\\W]{{2000}}|{}", "x".repeat(i)) }))
            })
            .collect();
        assert!(ParamsSchema::parse(json!({ "properties": heavy })).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
        let huge = json!({ "description": "x".repeat(MAX_SCHEMA_BYTES) });
        assert!(ParamsSchema::parse(huge).unwrap_err().contains("bytes"));
    }

    fn params(v: Value) -> Params {
        Params::parse(v.as_object().unwrap().clone()).unwrap()
    }

    fn schema() -> ParamsSchema {
        ParamsSchema::parse(json!({
            "type": "object",
            "properties": {
                "n": { "type": "integer", "minimum": 1, "maximum": 10, "default": 3 },
                "mode": { "type": "string", "enum": ["fast", "full"] },
                "tag": { "type": "string", "pattern": "^[a-z]+$", "maxLength": 8 },
                "dry": { "type": "boolean" }
            },
            "required": ["mode"],
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn values_are_checked_and_named() {
        let s = schema();
        assert!(s.check(&params(json!({ "n": 2, "mode": "fast", "tag": "abc", "dry": true })), false).is_ok());
        for (bad, names) in [
            (json!({ "n": 11, "mode": "fast" }), "'n'"),
            (json!({ "n": "2", "mode": "fast" }), "'n'"),
            (json!({ "mode": "slow" }), "'mode'"),
            (json!({ "mode": "fast", "tag": "ABC" }), "'tag'"),
            (json!({ "mode": "fast", "tag": "abcdefghij" }), "'tag'"),
            (json!({ "mode": "fast", "other": 1 }), "other"),
            (json!({ "n": 1 }), "mode"),
        ] {
            let err = s.check(&params(bad.clone()), false).unwrap_err();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }

    #[test]
    fn a_value_failing_many_times_gets_a_short_answer() {
        let pattern = format!("^(?:{})$", "ab".repeat(1_000));
        let refs: Vec<Value> = (0..1500).map(|_| json!({ "$ref": "#/$defs/p" })).collect();
        let s = ParamsSchema::parse(json!({
            "$defs": { "p": { "pattern": pattern } },
            "additionalProperties": { "type": "string", "allOf": refs }
        }))
        .unwrap();
        let many: serde_json::Map<String, Value> = (0..20).map(|i| (format!("p{i}"), json!("x"))).collect();
        let err = s.check(&Params::parse(many).unwrap(), false).unwrap_err();
        assert!(err.len() < 3000, "{} bytes", err.len());
        assert!(err.ends_with("(and more)"), "{err}");
    }

    #[test]
    fn partial_checks_skip_required_and_defaults_come_from_the_schema() {
        let s = schema();
        assert!(s.check(&params(json!({ "n": 4 })), true).is_ok());
        assert!(s.check(&params(json!({ "n": 40 })), true).is_err());
        assert_eq!(s.defaults(), params(json!({ "n": 3 })));
    }

    #[test]
    fn bad_schemas_and_outside_references_are_refused() {
        assert!(ParamsSchema::parse(json!("string")).is_err());
        assert!(ParamsSchema::parse(json!({ "type": "no-such-type" })).is_err());
        assert!(ParamsSchema::parse(json!({ "type": "string", "pattern": "(" })).is_err());
        for outside in ["http://127.0.0.1:1/schema.json", "file:///etc/passwd"] {
            assert!(ParamsSchema::parse(json!({ "$ref": outside })).is_err(), "{outside}");
        }
        for unbounded in [
            json!({ "$defs": { "a": { "$ref": "#/$defs/a" } }, "properties": { "n": { "$ref": "#/$defs/a" } } }),
            json!({ "$dynamicRef": "#meta" }),
            json!({ "properties": { "n": { "$id": "https://example.com/n", "type": "integer" } } }),
            json!({ "properties": { "n": { "$ref": "#/nowhere" } } }),
        ] {
            assert!(ParamsSchema::parse(unbounded.clone()).is_err(), "{unbounded}");
        }
        let inside = json!({ "$defs": { "n": { "type": "integer" } }, "properties": { "n": { "$ref": "#/$defs/n" } } });
        assert!(ParamsSchema::parse(inside).unwrap().check(&params(json!({ "n": "x" })), false).is_err());
    }
}
