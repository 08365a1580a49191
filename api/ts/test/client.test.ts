// Drives a running Consentry through the generated client: the life of a
// consent from the catalogue to a deny after withdrawal, with the receipt
// verified by an independent JOSE implementation (jose) and the
// withdrawal's webhook by the Standard Webhooks JavaScript library.
// The Go test TestTypeScriptClient (cmd/consentry) starts the server and
// runs this with CONSENTRY_URL and CONSENTRY_ADMIN_TOKEN set.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from "jose";
import { Webhook } from "standardwebhooks";
import { consentryClient } from "../src/index.js";

const baseUrl = process.env.CONSENTRY_URL;
const adminToken = process.env.CONSENTRY_ADMIN_TOKEN;

test("the client drives a consent from notice to deny", { skip: !baseUrl || !adminToken ? "CONSENTRY_URL and CONSENTRY_ADMIN_TOKEN are not set" : false }, async () => {
  const admin = consentryClient({ baseUrl: baseUrl!, token: adminToken });
  const anyone = consentryClient({ baseUrl: baseUrl! });
  const ok = <T>(r: { data?: T; error?: unknown; response: Response }, status: number): T => {
    assert.equal(r.response.status, status, JSON.stringify(r.error));
    assert.ok(r.data !== undefined);
    return r.data!;
  };

  ok(await anyone.GET("/healthz"), 200);
  ok(await admin.PUT("/v1/purposes/{key}", { params: { path: { key: "navigation" } }, body: { name: "Navigation", description: "Route guidance.", legal_basis: "consent" } }), 201);
  const device = ok(await admin.POST("/v1/devices", {
    body: { manufacturer: "Acme", model: "Tracker TS", serial: `TS-${Date.now()}`, firmware_version: "1.0.0", notice_key: "ts-notice", owner_subject: "ts-user" },
  }), 201);
  ok(await admin.PUT("/v1/devices/{id}/inventory", {
    params: { path: { id: device.id } },
    body: { elements: [{ key: "location", description: "GPS position", category: "personal.location.precise", sensitivity: "personal",
      purposes: ["navigation"], collection_method: "sensor", retention: "P30D", recipients: [], storage_region: "EU" }] },
  }), 201);
  ok(await admin.POST("/v1/notices", { body: { key: "ts-notice", default_locale: "en" } }), 201);
  const draft = ok(await admin.POST("/v1/notices/{key}/versions", {
    params: { path: { key: "ts-notice" } },
    body: {
      controller: { name: "Acme", contact: "privacy@acme.example" },
      purposes: [{ purpose: "navigation", legal_basis: "consent", elements: ["location"], collection_methods: ["sensor"],
        collection_scope: "While a trip runs.", retention: "P30D", recipients: [] }],
      texts: { en: { title: "Your tracker and your data", body: "We use your position to guide you.",
        purposes: { navigation: { name: "Navigation", collection_scope: "While a trip runs." } }, elements: { location: "Where you are" } } },
    },
  }), 201);
  ok(await admin.POST("/v1/notices/{key}/versions/{version}/publish", { params: { path: { key: "ts-notice", version: draft.version } } }), 200);

  const app = consentryClient({ baseUrl: baseUrl!, token: ok(await admin.POST("/v1/clients", { body: { name: "ts-app", role: "app" } }), 201).token });
  const svc = ok(await admin.POST("/v1/clients", { body: { name: "ts-backend", role: "service" } }), 201);
  const backend = consentryClient({ baseUrl: baseUrl!, token: svc.token });
  ok(await admin.POST("/v1/policies", { body: { subject: "ts-backend", category: "personal.location.*", purpose: "navigation", action: "use", effect: "allow" } }), 201);

  // A webhook to this test, verified with the specification's library.
  const deliveries: { body: string; headers: IncomingHttpHeaders }[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      deliveries.push({ body, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  try {
    const hook = ok(await admin.POST("/v1/webhooks", {
      body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, events: ["consent.withdrawn"] },
    }), 201);

    // The app shows the notice in force and records the choice against it.
    const shown = ok(await app.GET("/v1/notices/{key}/versions/current", { params: { path: { key: "ts-notice" }, query: { locale: "en" } } }), 200);
    const consent = ok(await app.POST("/v1/consents", {
      body: { subject: "ts-user", device_id: device.id, notice_key: "ts-notice", notice_version: shown.version, notice_hash: shown.content_hash,
        locale: shown.locale, method: "app", choices: [{ purpose: "navigation", granted: true }] },
    }), 201);

    // The receipt verifies with jose against the public JWKS, alg Ed25519 (RFC 9864).
    assert.equal(decodeProtectedHeader(consent.receipt).alg, "Ed25519");
    const jwks = createLocalJWKSet(ok(await anyone.GET("/.well-known/jwks.json"), 200) as Parameters<typeof createLocalJWKSet>[0]);
    const { payload } = await compactVerify(consent.receipt, jwks, { algorithms: ["Ed25519", "EdDSA"] });
    const receipt = JSON.parse(new TextDecoder().decode(payload));
    assert.equal(receipt.consentReceiptID, consent.id);
    const forged = consent.receipt.slice(0, -4) + (consent.receipt.endsWith("AAAA") ? "BBBB" : "AAAA");
    await assert.rejects(compactVerify(forged, jwks, { algorithms: ["Ed25519", "EdDSA"] }));

    const ask = { subject: "ts-user", device_id: device.id, element: "location", purpose: "navigation", action: "use" } as const;
    assert.equal(ok(await backend.POST("/v1/decisions", { body: ask }), 200).decision, "allow");

    // Bad input is a typed problem with the field named; the wrong role is 403.
    const bad = await backend.POST("/v1/decisions", { body: { ...ask, action: "sell" as "use" } });
    assert.equal(bad.response.status, 422);
    assert.ok(bad.error && bad.error.errors?.some((e) => e.field === "action"), JSON.stringify(bad.error));
    assert.equal((await app.POST("/v1/decisions", { body: ask })).response.status, 403);

    // Withdrawal is one call; the next decision denies, and the webhook says so.
    ok(await app.POST("/v1/consents/{id}/withdraw", { params: { path: { id: consent.id } }, body: {} }), 201);
    assert.equal(ok(await backend.POST("/v1/decisions", { body: ask }), 200).decision, "deny");

    for (let i = 0; i < 100 && deliveries.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(deliveries.length, 1, "one withdrawal, one delivery");
    const d = deliveries[0];
    const event = new Webhook(hook.secret!).verify(d.body, d.headers as Record<string, string>) as { id: string; kind: string; subject: string };
    assert.equal(event.kind, "consent.withdrawn");
    assert.equal(event.subject, "ts-user");
    assert.equal(d.headers["webhook-id"], event.id);
    assert.throws(() => new Webhook(hook.secret!).verify(d.body.replace("ts-user", "ts-usex"), d.headers as Record<string, string>));
  } finally {
    receiver.close();
  }
});
