// A small client of the Slipway API, written as the web client would be: its
// types come from the server's OpenAPI document through openapi-typescript
// (src/schema.d.ts, generated, never committed) and its calls go through
// openapi-fetch. TestTypeScriptClient generates the types from the running
// server's document, type-checks this file with tsc and runs it with node
// against that server, so a contract that stops giving a typed client what it
// needs fails the build. It uses no type assertions: every type it reads is
// the generated one.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

// The one Node global used; declared here rather than pulling in @types/node.
declare const process: { env: Record<string, string | undefined> };

type FieldError = components["schemas"]["FieldError"];
type RunEvent = components["schemas"]["RunEvent"];

// How a web client renders an entry of a run's timeline: its type says
// which of its fields is set, and an unknown event (raw) still shows.
function describe(e: RunEvent): string {
  switch (e.type) {
    case "agent_message":
    case "reasoning":
      return e.text ?? "";
    case "command":
      return `${e.command?.command ?? ""} → ${e.command?.exit_code ?? "running"}`;
    case "file_change":
      return (e.file_change?.changes ?? []).map((c) => `${c.kind} ${c.path}`).join(", ");
    case "turn":
      return `turn ${e.phase ?? ""}: ${e.usage?.output_tokens ?? 0} tokens out`;
    case "raw":
      return JSON.stringify(e.raw);
    default:
      return e.type;
  }
}

function check(ok: unknown, message: string): asserts ok {
  if (!ok) {
    throw new Error(message);
  }
}

const baseUrl = process.env.SLIPWAY_URL;
check(baseUrl, "SLIPWAY_URL is not set");
const anonymous = createClient<paths>({ baseUrl });

// Sign up; the session carries the bearer token.
const email = `ts-client-${Date.now()}@example.com`;
const signUp = await anonymous.POST("/v1/auth/signup", {
  body: { email, password: "correct horse battery staple", display_name: "TS client" },
});
if (signUp.error) {
  throw new Error(`sign-up failed: ${signUp.error.error.code}: ${signUp.error.error.message}`);
}
check(signUp.response.status === 201, `sign-up answered ${signUp.response.status}`);
const session = signUp.data;
check(session.token_type === "bearer", `token type ${session.token_type}`);
const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${session.access_token}` } });

const me = await api.GET("/v1/auth/me");
check(me.data?.email === email, `me: ${JSON.stringify(me.data ?? me.error)}`);

// Create more projects than one page holds.
const pageSize = 2;
const names = ["alpha", "beta", "gamma"];
for (const name of names) {
  const created = await api.POST("/v1/projects", { body: { name, description: `project ${name}` } });
  if (created.error) {
    throw new Error(`create ${name}: ${created.error.error.code}: ${created.error.error.message}`);
  }
  check(created.data.name === name && created.data.id.startsWith("prj_"), `created ${JSON.stringify(created.data)}`);
}

// List them page by page, following next_cursor until it is null.
const listed: string[] = [];
let cursor: string | undefined;
let pages = 0;
do {
  const page = await api.GET("/v1/projects", { params: { query: { limit: pageSize, cursor } } });
  if (page.error) {
    throw new Error(`list: ${page.error.error.code}: ${page.error.error.message}`);
  }
  check(page.data.items.length <= pageSize, `a page of ${page.data.items.length}`);
  listed.push(...page.data.items.map((p) => p.name));
  cursor = page.data.next_cursor ?? undefined;
  pages++;
} while (cursor !== undefined && pages < 10);
check(pages === 2, `listed ${names.length} projects in ${pages} pages of ${pageSize}`);
check(JSON.stringify([...listed].sort()) === JSON.stringify(names), `listed ${listed.join(", ")}`);

// A 422: the error's code narrows the union, and details.fields is typed.
const invalid = await api.POST("/v1/projects", { body: { name: "" } });
check(invalid.error, `an empty name was accepted: ${JSON.stringify(invalid.data)}`);
check(invalid.response.status === 422, `an empty name answered ${invalid.response.status}`);
const failure = invalid.error.error;
// code is an enum of the codes createProject answers, not any string.
// @ts-expect-error no such code can come back
check(failure.code !== "no_such_code", "unreachable");
if (failure.code !== "validation_error") {
  throw new Error(`422 with code ${failure.code}`);
}
const fields: FieldError[] = failure.details.fields;
const nameField = fields.find((f) => f.field === "name");
check(nameField !== undefined && nameField.reason.length > 0, `fields: ${JSON.stringify(fields)}`);

// A run's event timeline: a run the caller cannot see is a typed 404.
const events = await api.GET("/v1/runs/{run_id}/events", {
  params: { path: { run_id: "run_01jzzzzzzzzzzzzzzzzzzzzzzz" }, query: { limit: 10 } },
});
check(events.error?.error.code === "not_found", `events of no run: ${JSON.stringify(events.error ?? events.data)}`);
const entry: RunEvent = {
  type: "command", offset: 0, cursor: "42", item_id: "item_0", phase: "completed",
  command: { command: "ls", status: "completed", exit_code: 0, output: "README.md\n", output_truncated: false },
};
check(describe(entry) === "ls → 0", `described ${describe(entry)}`);

console.log(JSON.stringify({ ok: true, user: session.user.id, pages, projects: listed.length, fields }));
