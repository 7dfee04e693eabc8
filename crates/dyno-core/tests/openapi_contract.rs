//! The contract test: `docs/openapi.yaml` and the Worker's route table describe the same API.
//! Invariant: a route in the router but not in the document, or the other way round, fails here,
//! as does an operation whose security or error responses do not match how the router treats it.

use std::collections::{BTreeMap, BTreeSet};

use dyno_core::problem::ErrorCode;
use dyno_core::routes::{Audience, ROUTES};
use serde_yaml_ng::Value;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("docs/openapi.yaml is readable");
    serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is valid YAML")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (METHOD, path) → operation, for every operation in the document.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut found = BTreeMap::new();
    let paths = doc["paths"].as_mapping().expect("paths is a mapping");
    for (path, item) in paths {
        let path = path.as_str().expect("paths are strings");
        for method in METHODS {
            if let Some(op) = item.get(method) {
                found.insert((method.to_uppercase(), path.to_string()), op.clone());
            }
        }
    }
    found
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let doc = document();
    let documented: BTreeSet<_> = operations(&doc).into_keys().collect();
    let routed: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.pattern.to_string()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "in the router but not in docs/openapi.yaml: {undocumented:?}\n\
         in docs/openapi.yaml but not in the router: {unrouted:?}"
    );
}

#[test]
fn each_operation_declares_the_security_and_errors_its_audience_implies() {
    let doc = document();
    let ops = operations(&doc);
    let mut ids = BTreeSet::new();
    for route in ROUTES {
        let key = (route.method.to_string(), route.pattern.to_string());
        let op = &ops[&key];
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{key:?} has no operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
        let schemes: BTreeSet<&str> = op
            .get("security")
            .and_then(Value::as_sequence)
            .map(|reqs| {
                reqs.iter()
                    .filter_map(Value::as_mapping)
                    .flat_map(|m| m.keys().filter_map(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let statuses: BTreeSet<&str> = op["responses"]
            .as_mapping()
            .map(|m| m.keys().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let expected_scheme = match route.audience {
            Audience::Public | Audience::Token => None,
            Audience::Pos => Some("posOAuth"),
            Audience::Wallet => Some("walletBearer"),
            Audience::Admin => Some("adminKey"),
        };
        if let Some(scheme) = expected_scheme {
            assert!(
                schemes.contains(scheme),
                "{key:?} must declare {scheme}: {schemes:?}"
            );
            assert!(statuses.contains("401"), "{key:?} must document 401");
        }
        if route.audience == Audience::Pos {
            assert!(statuses.contains("429"), "{key:?} is rate limited: 429");
            let scope = op["security"][0]["posOAuth"][0].as_str();
            assert_eq!(scope, route.scope, "{key:?}: documented scope");
        }
        if matches!(route.method, "POST" | "PUT" | "PATCH") && op.get("requestBody").is_some() {
            assert!(statuses.contains("400"), "{key:?} takes a body: 400");
        }
    }
}

#[test]
fn the_problem_schema_lists_every_error_code() {
    let doc = document();
    let listed: BTreeSet<&str> = doc["components"]["schemas"]["Problem"]["properties"]["code"]
        ["enum"]
        .as_sequence()
        .expect("Problem.code has an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, known);
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let text = serde_yaml_ng::to_string(&doc).expect("re-serializes");
    let mut missing = Vec::new();
    for line in text.lines() {
        if let Some(reference) = line.trim().strip_prefix("$ref: ") {
            let reference = reference.trim_matches(|c| c == '\'' || c == '"');
            let pointer = reference.strip_prefix("#/").expect("local references only");
            let mut node = &doc;
            for part in pointer.split('/') {
                node = &node[part];
            }
            if node.is_null() {
                missing.push(reference.to_string());
            }
        }
    }
    assert!(missing.is_empty(), "unresolved: {missing:?}");
}

#[test]
fn the_documented_body_limit_is_the_enforced_one() {
    let doc = document();
    let description = doc["info"]["description"]
        .as_str()
        .expect("info.description");
    let limit = dyno_core::edge::MAX_BODY_BYTES;
    assert!(
        description.contains(&format!("{} KiB ({limit} bytes)", limit / 1024)),
        "docs/openapi.yaml must state the body limit the gateway enforces ({limit} bytes)"
    );
}
