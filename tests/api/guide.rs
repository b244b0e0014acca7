//! The guide (`docs/guide/`) stays true: its API reference is what the committed OpenAPI document says, and its
//! configuration chapter names every setting. (Its runnable command blocks are run by `.ci/guide`.)
use std::path::{Path, PathBuf};

use taskyard::config::Settings;

fn guide(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide/src").join(file)
}

#[test]
fn the_api_reference_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("openapi/openapi.json")).expect("read openapi/openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("the document is JSON");
    let generated = taskyard::openapi::reference::markdown(&doc);
    let path = guide("reference/api.md");
    if std::env::var_os("TASKYARD_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the reference");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/guide/src/reference/api.md is stale; regenerate it with `TASKYARD_BLESS=1 cargo test --test api guide`"
    );
}

#[test]
fn the_configuration_chapter_names_every_setting() {
    // The settings refuse unknown keys, and say which they know.
    let err = toml::from_str::<Settings>("no_such_setting = 1").expect_err("an unknown key");
    let message = err.to_string();
    let known: Vec<&str> =
        message.split("expected one of").nth(1).expect("the known keys").split('`').skip(1).step_by(2).collect();
    assert!(known.len() > 20 && known.contains(&"keys"), "{message}");
    let chapter = std::fs::read_to_string(guide("configuration.md")).expect("read the configuration chapter");
    let missing: Vec<&&str> = known.iter().filter(|k| !chapter.contains(&format!("| `{k}` |"))).collect();
    assert!(missing.is_empty(), "the configuration chapter has no table row for {missing:?}");
}
