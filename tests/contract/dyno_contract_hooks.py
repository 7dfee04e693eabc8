"""Schemathesis hooks for the contract run (tests/e2e/tests/contract.rs loads them).

The generator draws minimal values, so its `Idempotency-Key`s collide ("0", "00", ...): most
money operations would then stop at 422 IDEMPOTENCY_KEY_REUSED and never reach refunds. Each valid key gets a unique suffix right before it is sent, so the request goes on
into the real logic. An invalid key is left as drawn: the API must still refuse it. Replays of
one key are proven by the e2e suites, not here.
"""

import itertools
import re

import schemathesis

_VALID_KEY = re.compile(r"[!-~]{1,255}")
_SEQUENCE = itertools.count(1)


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers
    key = headers.get("Idempotency-Key") if headers else None
    if isinstance(key, str) and _VALID_KEY.fullmatch(key) and len(key) <= 240:
        headers["Idempotency-Key"] = f"{key}.{next(_SEQUENCE)}"
