package tokens

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

func TestAttackWeakAdminTokensPass(t *testing.T) {
	interleaved := make([]byte, 32) // 00 80 01 81 02 82 ...
	for i := range interleaved {
		interleaved[i] = byte(i/2) + byte(128*(i%2))
	}
	squares := make([]byte, 32) // i*i mod 256
	for i := range squares {
		squares[i] = byte(i * i)
	}
	times37 := make([]byte, 32) // i*37 mod 256 then reversed pairs
	for i := range times37 {
		times37[i] = byte(i*i*i + 7)
	}
	pw := sha256.Sum256([]byte("password"))
	for name, raw := range map[string][]byte{"interleaved counter": interleaved, "squares": squares, "cubes+7": times37, "sha256(password)": pw[:]} {
		s := "dsr_" + base64.RawURLEncoding.EncodeToString(raw)
		if err := CheckStrength(s); err == nil {
			t.Errorf("ACCEPTED %s: %s (% x)", name, s, raw)
		} else {
			t.Logf("refused %s: %v", name, err)
		}
	}
}
