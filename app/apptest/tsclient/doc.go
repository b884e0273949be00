// Package tsclient checks the API contract from a web client's side. Its
// directory is a small npm project (package.json, package-lock.json with exact
// versions): src/client.ts is a client written with types that
// openapi-typescript generates from /v1/openapi.json, calling the API through
// openapi-fetch. The tests boot the real app, lint its document with Redocly
// CLI's recommended ruleset, generate the types, type-check the client with
// tsc and run it with node against the server.
//
// The tools come from `npm ci` in this directory (.ci/run does it); without
// node or node_modules the tests skip locally and fail under CI=true.
package tsclient
