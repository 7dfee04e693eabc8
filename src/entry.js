// The gateway's entry module: what the Rust build exports (build/index.js), with its two Durable
// Object classes derived from the runtime's DurableObject. The runtime offers RPC only on such
// classes, and the Worker calls both objects by RPC (`answer`, see src/stubs.rs); worker-build
// derives them this way only for its emscripten output.
import { DurableObject } from "cloudflare:workers";
import worker, { ClientGate, PaymentDO } from "../build/index.js";

for (const object of [ClientGate, PaymentDO]) {
  Object.setPrototypeOf(object.prototype, DurableObject.prototype);
  Object.setPrototypeOf(object, DurableObject);
}

export { ClientGate, PaymentDO };
export default worker;
