// Package egress is a run's only way out of its container when
// runs.network is "allowlist": an HTTPS forward proxy that admits only the
// destinations of an Allowlist and never a loopback, private, link-local,
// CGNAT or metadata address (platform/ipclass), run by Slipway beside each
// run.
//
// Topology, per run (Gateway.Open):
//
//	agent container ──► run network ──► proxy container ──► outside network ──► destination
//	                    (internal, no                        (a bridge of the
//	                     host address)                        instance's own)
//
// The run network is an internal bridge whose bridge device has no IPv4
// address (com.docker.network.bridge.inhibit_ipv4): a container on it can
// reach neither the internet nor the host, at any of its addresses, but
// only its peers, and its only peer is the proxy. The proxy is the slipway
// binary itself (`slipway egress-proxy`, statically linked), imported into
// an image of its own with nothing else in it, and confined like the
// agent's container. The agent finds it through HTTPS_PROXY.
//
// The proxy writes one JSON line per decision (Decision) on its output;
// the Gateway reads them back, logs each on the server and hands them to
// the runs module for the run's log.
package egress
