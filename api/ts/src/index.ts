// The TypeScript client of Consentry's REST API. Its types (schema.d.ts)
// are generated from openapi.yaml by openapi-typescript (`make generate`);
// calls go through openapi-fetch, so every path, parameter, body and
// answer is checked by the compiler against the contract.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** A problem (RFC 9457) as Consentry answers every error. */
export type Problem = components["schemas"]["Problem"];

export interface ConsentryOptions extends ClientOptions {
  /** The service, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /**
   * A client token (cst_…) or a subject token; sent as a Bearer token on
   * every call. Leave it out for the public routes (JWKS, notice pages).
   */
  token?: string;
}

export type ConsentryClient = Client<paths>;

/**
 * consentryClient returns a typed client:
 *
 * ```ts
 * const c = consentryClient({ baseUrl, token });
 * const { data, error } = await c.POST("/v1/decisions", { body: { subject, device_id, element, purpose, action: "use" } });
 * ```
 *
 * `error` is the problem document of a non-2xx answer; `data` the typed
 * body of a 2xx one. A backend must treat anything but
 * `data.decision === "allow"` (an error, a network failure) as a deny.
 */
export function consentryClient(options: ConsentryOptions): ConsentryClient {
  const { token, headers, ...rest } = options;
  const client = createClient<paths>({ ...rest, headers });
  if (token) {
    client.use({
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${token}`);
        return request;
      },
    });
  }
  return client;
}
