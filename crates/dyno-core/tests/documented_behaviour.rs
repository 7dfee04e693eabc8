//! What `docs/openapi.yaml` tells integrators in prose and in its extensions agrees with the
//! code's constants: the sandbox scenarios (the `X-Dyno-Simulate` values and the scenario table),
//! the webhook retry schedule and attempt timeout, and the list of webhook events.
//! Invariant: changing one of these constants without the document (or the reverse) fails here.

use dyno_core::sandbox::SCENARIOS;
use dyno_core::webhook::{ATTEMPT_TIMEOUT_MS, RETRY_DELAYS_SECONDS};
use serde_yaml_ng::Value;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("docs/openapi.yaml is readable");
    serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is valid YAML")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn tag_description(doc: &Value, name: &str) -> String {
    doc["tags"]
        .as_sequence()
        .expect("tags")
        .iter()
        .find(|tag| tag["name"].as_str() == Some(name))
        .and_then(|tag| tag["description"].as_str())
        .unwrap_or_else(|| panic!("the {name} tag has a description"))
        .to_string()
}

/// The first cell of each body row of the first Markdown table in `text`, without backquotes.
fn first_column(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and its |---| line
        .filter_map(|line| line.split('|').nth(1))
        .map(|cell| cell.trim().trim_matches('`').to_string())
        .collect()
}

#[test]
fn the_simulate_header_lists_exactly_the_scenarios_the_code_knows() {
    let doc = document();
    let documented = strings(&doc["components"]["parameters"]["Simulate"]["schema"]["enum"]);
    let known: Vec<String> = SCENARIOS.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(documented, known);
}

#[test]
fn the_sandbox_table_has_one_row_per_scenario() {
    let doc = document();
    let rows = first_column(&tag_description(&doc, "Sandbox"));
    let known: Vec<String> = SCENARIOS.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(rows, known);
}

#[test]
fn the_documented_retry_schedule_is_the_code_s() {
    let doc = document();
    let text = tag_description(&doc, "Webhooks");
    let [first, second, third] = RETRY_DELAYS_SECONDS;
    let schedule = format!("after **{first} s**, then **{second} s**, then **{third} s**");
    assert!(
        text.contains(&schedule),
        "the Webhooks section says {schedule:?}"
    );
    let attempts = RETRY_DELAYS_SECONDS.len() + 1;
    assert!(text.contains(&format!("({} attempts in all)", words(attempts))));
    let timeout = format!("no answer within **{} s**", ATTEMPT_TIMEOUT_MS / 1000);
    assert!(
        text.contains(&timeout),
        "the Webhooks section says {timeout:?}"
    );
    // And each webhook's failure answer repeats it.
    for (name, item) in doc["x-webhooks"].as_mapping().expect("x-webhooks") {
        let failure = item["post"]["responses"]["default"]["description"]
            .as_str()
            .expect("a default response");
        assert!(
            failure.contains(&format!("within {} s", ATTEMPT_TIMEOUT_MS / 1000))
                && failure.contains(&format!("after {first} s, {second} s and {third} s")),
            "{name:?}: {failure}"
        );
    }
}

fn words(n: usize) -> &'static str {
    match n {
        3 => "three",
        4 => "four",
        5 => "five",
        _ => panic!("say {n} in words here"),
    }
}

#[test]
fn every_event_is_one_webhook_and_one_value_of_each_event_list() {
    let doc = document();
    let webhooks: Vec<String> = doc["x-webhooks"]
        .as_mapping()
        .expect("x-webhooks")
        .keys()
        .map(|k| k.as_str().expect("event name").to_string())
        .collect();
    assert_eq!(
        webhooks,
        [
            "payment.confirmed",
            "payment.failed",
            "payment.expired",
            "payment.cancelled",
            "payment.refunded"
        ]
    );
    let header = strings(&doc["components"]["parameters"]["WebhookEventType"]["schema"]["enum"]);
    assert_eq!(header, webhooks, "X-Dyno-Event");
    let deliveries =
        strings(&doc["components"]["schemas"]["Delivery"]["properties"]["event"]["enum"]);
    assert_eq!(deliveries, webhooks, "the delivery log's event");
    for (name, item) in doc["x-webhooks"].as_mapping().expect("x-webhooks") {
        let example = &item["post"]["requestBody"]["content"]["application/json"]["example"];
        assert_eq!(example["event"].as_str(), name.as_str(), "{name:?} example");
        // Money moved only for a confirmation and a refund: only they carry a transaction id.
        let moved = matches!(
            name.as_str(),
            Some("payment.confirmed" | "payment.refunded")
        );
        assert_eq!(
            example.get("transaction_id").is_some(),
            moved,
            "{name:?}: transaction_id only when money moved"
        );
    }
}
