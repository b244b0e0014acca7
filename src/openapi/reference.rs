//! The guide's API reference (`docs/guide/src/reference/api.md`), written from the OpenAPI document: every
//! operation by tag with the scope it needs, its parameters, body and answers, then every schema. A test keeps the
//! committed page equal to what this writes from the committed document.
use serde_json::Value;

use crate::api::auth::required_scope;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// The reference page for the OpenAPI document `doc`.
pub fn markdown(doc: &Value) -> String {
    let mut out = String::from(
        "# API reference\n\n<!-- Generated from openapi/openapi.json by `TASKYARD_BLESS=1 cargo test --test api \
         guide`; do not edit. -->\n\nEvery route, grouped by tag, with the scope an API key needs for it (see \
         [Security](../security.md)), its parameters, its body and its answers. Errors are `application/problem+json` \
         bodies ([`Problem`](#problem)) with a stable `code`. The same document is served at `/openapi.json`, and \
         browsable at `/docs/`.\n",
    );
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    let tags: Vec<(&str, &str)> = doc["tags"]
        .as_array()
        .map(|t| {
            t.iter().map(|t| (t["name"].as_str().unwrap_or(""), t["description"].as_str().unwrap_or(""))).collect()
        })
        .unwrap_or_default();
    for (tag, description) in tags {
        out.push_str(&format!("\n## {tag}\n\n{}\n", one_line(description)));
        for (path, item) in paths {
            for method in METHODS {
                let op = &item[method];
                if op.is_null() || !op["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag)) {
                    continue;
                }
                operation(&mut out, method, path, op);
            }
        }
    }
    out.push_str("\n## Schemas\n");
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap_or(&empty) {
        out.push_str(&format!("\n### {name}\n\n"));
        if let Some(d) = schema["description"].as_str() {
            out.push_str(&format!("{}\n\n", one_line(d)));
        }
        match schema["properties"].as_object() {
            Some(props) => {
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                out.push_str("| field | type | required | description |\n| --- | --- | --- | --- |\n");
                for (field, p) in props {
                    let req = if required.contains(&field.as_str()) { "yes" } else { "no" };
                    out.push_str(&format!(
                        "| `{field}` | {} | {req} | {} |\n",
                        type_of(p),
                        cell(p["description"].as_str().unwrap_or(""))
                    ));
                }
            }
            None => out.push_str(&format!("Type: {}\n", type_of(schema))),
        }
    }
    out
}

fn operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let upper = method.to_uppercase();
    out.push_str(&format!("\n### `{upper} {path}`\n\n"));
    if let Some(summary) = op["summary"].as_str() {
        out.push_str(&format!("{}\n\n", one_line(summary)));
    }
    if path.starts_with("/api/") {
        let m = actix_web::http::Method::from_bytes(upper.as_bytes()).unwrap_or(actix_web::http::Method::GET);
        out.push_str(&format!("Scope: `{}`.\n\n", required_scope(&m, Some(path))));
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("| parameter | in | required | type | description |\n| --- | --- | --- | --- | --- |\n");
        for p in params {
            let description = p["description"].as_str().or(p["schema"]["description"].as_str()).unwrap_or("");
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                p["name"].as_str().unwrap_or(""),
                p["in"].as_str().unwrap_or(""),
                if p["required"] == true { "yes" } else { "no" },
                type_of(&p["schema"]),
                cell(description)
            ));
        }
        out.push('\n');
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (media, c) in content {
            out.push_str(&format!("Body ({media}): {}\n\n", type_of(&c["schema"])));
        }
    }
    out.push_str("| status | answer |\n| --- | --- |\n");
    for (status, r) in op["responses"].as_object().into_iter().flatten() {
        let body = r["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| format!(" ({})", type_of(&c["schema"])))
            .unwrap_or_default();
        out.push_str(&format!("| {status} | {}{body} |\n", cell(r["description"].as_str().unwrap_or(""))));
    }
}

/// A schema's type in a few words, with links to named schemas.
fn type_of(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[`{name}`](#{})", name.to_lowercase());
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = s[key].as_array() {
            return options.iter().map(type_of).collect::<Vec<_>>().join(" or ");
        }
    }
    if let Some(values) = s["enum"].as_array() {
        return values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or(&v.to_string())))
            .collect::<Vec<_>>()
            .join(", ");
    }
    let base = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ => return "any".to_string(),
    };
    if base.starts_with("array") {
        return format!("array of {}", type_of(&s["items"]));
    }
    match s["format"].as_str() {
        Some(f) => format!("{base} ({f})"),
        None => base,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}
