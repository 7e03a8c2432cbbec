package serving

import (
	"errors"
	"strings"
	"testing"

	"github.com/dossier-dev/dossier/internal/sign"
)

// The registry signs summaries of its quarantine's decisions only when a
// key, a verifier URI and a quarantine are all there; each missing piece
// is named.
func TestQuarantineSummariesSettings(t *testing.T) {
	key, err := sign.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	const verifier = "https://registry.example/quarantine"
	if s, err := quarantineSummaries(Config{}, nil, true); s != nil || err != nil {
		t.Errorf("none configured: %v %v", s, err)
	}
	s, err := quarantineSummaries(Config{SummaryKey: "gate.key", SummaryVerifier: verifier}, key, true)
	if err != nil || s == nil || s.Key != key || s.VerifierID != verifier {
		t.Errorf("configured: %+v %v", s, err)
	}
	for name, c := range map[string]struct {
		cfg         Config
		quarantined bool
		flag, says  string
	}{
		"a verifier, no key":    {Config{SummaryVerifier: verifier}, true, "summary-key", "no key to sign its summaries with"},
		"a key, no verifier":    {Config{SummaryKey: "gate.key"}, true, "summary-verifier", "required with a summary key"},
		"a verifier not a URI":  {Config{SummaryKey: "gate.key", SummaryVerifier: "registry"}, true, "summary-verifier", `"registry"`},
		"no quarantine to sign": {Config{SummaryKey: "gate.key", SummaryVerifier: verifier}, false, "summary-key", "no quarantine rule is configured"},
	} {
		var k *sign.KeyPair
		if c.cfg.SummaryKey != "" {
			k = key
		}
		_, err := quarantineSummaries(c.cfg, k, c.quarantined)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Flag != c.flag || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want a setting error of --%s saying %q", name, err, c.flag, c.says)
		}
	}
}
