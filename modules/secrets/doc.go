// Package secrets owns a project's secrets: named values (an API key, a
// token) that runs of the project get as environment variables in their
// container, and that no API answer, log line or run log ever shows.
//
// Values are kept only encrypted (crypt.go): AES-256-GCM under the key of
// SLIPWAY_SECRETS_KEY, with the id of that key beside each ciphertext so
// keys can rotate, and the project and name as additional data, so a
// ciphertext copied to another project or name does not decrypt. The API
// writes (PUT, create or replace) and deletes secrets and lists their
// names; it never returns a value. The run worker gets a project's values
// through access.Secrets, decrypted at container start.
//
// Who may do what follows the project: whoever may see the project may
// list its secrets' names (its owner, operators, root), only its owner or
// root may write or delete them.
package secrets
