"""Checks of docs/openapi.yaml that a standard validator does not make (run by scripts/check-openapi.sh).

- No key has a null value. In a YAML flow mapping, an unquoted comma in a description starts a
  new key with a null value; the standard validator only notices where the schema forbids extra
  keys, and never inside `x-` extensions.
- Every webhook of `x-webhooks` is a valid OpenAPI path item (validated as the only path of a
  document that shares the real one's components).
- Every example of a webhook body validates against its schema, and `payment.confirmed` is the
  seed's body: these eight fields, in this order.
"""

import sys

import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SEED_CONFIRMED_FIELDS = [
    "event",
    "payment_request_id",
    "transaction_id",
    "amount",
    "currency",
    "status",
    "pos_reference",
    "timestamp",
]


def null_keys(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None:
                yield path + [key]
            yield from null_keys(value, path + [key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from null_keys(value, path + [index])


def main(path):
    with open(path, encoding="utf-8") as file:
        document = yaml.safe_load(file)
    failures = []

    for keys in null_keys(document, []):
        failures.append(
            "null value at " + "/".join(map(str, keys)) + " (an unquoted comma in a flow mapping?)"
        )

    webhooks = document.get("x-webhooks") or {}
    if not webhooks:
        failures.append("no x-webhooks: the document must describe the webhooks it sends")
    registry = Registry().with_resource(
        "urn:dyno:openapi", Resource.from_contents(document, default_specification=DRAFT4)
    )
    for name, item in webhooks.items():
        probe = {
            "openapi": document["openapi"],
            "info": document["info"],
            "paths": {f"/x-webhooks/{name}": item},
            "components": document["components"],
        }
        try:
            validate(probe)
        except Exception as error:  # the validator's own error types vary by version
            failures.append(f"x-webhooks/{name} is not a valid path item: {error}")
            continue
        for method, operation in item.items():
            media = operation["requestBody"]["content"]["application/json"]
            schema = {"$ref": "urn:dyno:openapi" + media["schema"]["$ref"]}
            validator = OAS30Validator(schema, registry=registry)
            for error in validator.iter_errors(media.get("example")):
                failures.append(f"x-webhooks/{name} {method}: example: {error.message}")

    confirmed = webhooks.get("payment.confirmed", {}).get("post", {})
    media = confirmed.get("requestBody", {}).get("content", {}).get("application/json", {})
    if list(media.get("example", {})) != SEED_CONFIRMED_FIELDS:
        failures.append(f"payment.confirmed example is not the seed's body: {list(media.get('example', {}))}")
    schema_name = media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
    schema = document["components"]["schemas"].get(schema_name, {})
    if list(schema.get("properties", {})) != SEED_CONFIRMED_FIELDS or schema.get("required") != SEED_CONFIRMED_FIELDS:
        failures.append(f"{schema_name} does not list exactly the seed's fields, in order")
    if schema.get("additionalProperties") is not False:
        failures.append(f"{schema_name} must forbid other fields: the seed's body is exact")

    for failure in failures:
        print(f"{path}: {failure}", file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"{path}: no null keys; {len(webhooks)} webhooks valid, with valid examples")


if __name__ == "__main__":
    main(sys.argv[1])
