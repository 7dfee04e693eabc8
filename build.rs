//! Embeds the API contract: converts `docs/openapi.yaml` to the JSON served at `/openapi.json`.
//! Invariant: the Worker serves exactly the document in the repository, so the contract test
//! and schemathesis check the same text the integrators read.

use std::path::Path;

fn main() {
    let source = Path::new("docs/openapi.yaml");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(source).expect("docs/openapi.yaml is readable");
    // Through the YAML value, whose mappings keep their order, so the JSON reads like the YAML.
    let document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is valid YAML");
    let json = serde_json::to_string(&document).expect("the document has only string keys");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("openapi.json");
    std::fs::write(out, json).expect("OUT_DIR is writable");
}
