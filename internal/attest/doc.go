// Package attest makes and reads in-toto attestations about an artifact
// digest: statements, predicate builders (SLSA provenance, vulnerability
// reports), attaching them signed as cosign does, and finding and
// verifying them again — as OCI 1.1 referrers and in cosign's legacy .att
// layout — into evidence.Attestation values. Signing and verification
// themselves are package sign's.
package attest
