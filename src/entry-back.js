// The back's entry module (wrangler.back.toml): what the Rust build of the back exports
// (build-back/index.js), with its two Durable Object classes derived from the runtime's
// DurableObject. The runtime offers RPC only on such classes, and both parts call the objects by
// RPC (`answer`, see src/stubs.rs); worker-build derives them this way only for its emscripten
// output. The front (wrangler.toml) has no object classes and runs its build output as it is.
import { DurableObject } from "cloudflare:workers";
import worker, { ClientGate, PaymentDO } from "../build-back/index.js";

for (const object of [ClientGate, PaymentDO]) {
  Object.setPrototypeOf(object.prototype, DurableObject.prototype);
  Object.setPrototypeOf(object, DurableObject);
}

export { ClientGate, PaymentDO };
export default worker;
