package testutil

import "strings"

// KeySignedPolicy is a SupplyChainPolicy named name on the images glob
// whose one rule requires a signature by the PEM public key.
func KeySignedPolicy(name, images, publicKeyPEM string) []byte {
	return []byte(`apiVersion: dossier.dev/v1alpha1
kind: SupplyChainPolicy
metadata: {name: ` + name + `}
spec:
  images: ["` + images + `"]
  signers:
    - name: release
      key:
        data: |
          ` + strings.ReplaceAll(strings.TrimSpace(publicKeyPEM), "\n", "\n          ") + `
  rules: [{name: signed, signature: {}}]
`)
}
