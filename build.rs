//! Publishes the API contract: converts `docs/openapi.yaml` to `www/openapi.json`, which the
//! demo site's assets (`wrangler.www.toml`) answer at `/openapi.json`. Invariant: the served
//! document is generated from the repository's, never hand-maintained, and it costs the Worker's
//! WASM nothing.

use std::path::Path;

fn main() {
    let source = Path::new("docs/openapi.yaml");
    let target = Path::new("www/openapi.json");
    println!("cargo:rerun-if-changed={}", source.display());
    // Also when the generated file was deleted or edited by hand.
    println!("cargo:rerun-if-changed={}", target.display());
    let text = std::fs::read_to_string(source).expect("docs/openapi.yaml is readable");
    // Through the YAML value, whose mappings keep their order, so the JSON reads like the YAML.
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is valid YAML");
    let json = serde_json::to_string(&document).expect("the document has only string keys");
    if std::fs::read_to_string(target).ok().as_deref() != Some(json.as_str()) {
        std::fs::write(target, json).expect("www/ is writable");
    }
}
