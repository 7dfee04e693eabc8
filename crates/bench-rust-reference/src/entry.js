// The Rust reference's entry module (wrangler.toml): its Rust build (build/index.js) with the
// StatusStore class derived from the runtime's DurableObject, as the gateway's back does
// (src/entry-back.js): the runtime offers RPC only on such classes.
import { DurableObject } from "cloudflare:workers";
import worker, { StatusStore } from "../build/index.js";

Object.setPrototypeOf(StatusStore.prototype, DurableObject.prototype);
Object.setPrototypeOf(StatusStore, DurableObject);

export { StatusStore };
export default worker;
