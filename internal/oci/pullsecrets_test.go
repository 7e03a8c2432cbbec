package oci

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func dockerConfigJSON(auths map[string]string) []byte {
	var b strings.Builder
	b.WriteString(`{"auths":{`)
	first := true
	for key, userPassword := range auths {
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + key + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(userPassword)) + `"}`)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

func TestPullSecrets(t *testing.T) {
	k, err := NewPullSecrets([]PullSecret{
		{Name: "team", Type: SecretDockerConfigJSON, Data: map[string][]byte{".dockerconfigjson": dockerConfigJSON(map[string]string{
			"registry.example":            "host:wide",
			"registry.example/team/app":   "path:specific",
			"*.mirror.example":            "glob:any",
			"https://index.docker.io/v1/": "hub:user",
			"127.0.0.1:5000":              "local:port",
		})}},
		{Name: "legacy", Type: SecretDockerConfig, Data: map[string][]byte{".dockercfg": []byte(`{"old.example":{"username":"old","password":"pw"}}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for image, want := range map[string]string{
		"registry.example/team/app:v1":         "path:specific",
		"registry.example/team/app/sub:v1":     "path:specific",
		"registry.example/team/application:v1": "host:wide", // a path prefix is whole segments
		"registry.example/other:v1":            "host:wide",
		"eu.mirror.example/x:1":                "glob:any",
		"a.eu.mirror.example/x:1":              "", // one label per *
		"busybox:1.37":                         "hub:user",
		"127.0.0.1:5000/x:1":                   "local:port",
		"127.0.0.1:5001/x:1":                   "", // another port
		"old.example/x:1":                      "old:pw",
		"unknown.example/x:1":                  "",
	} {
		ref, err := name.ParseReference(image)
		if err != nil {
			t.Fatal(err)
		}
		auth, err := k.Resolve(ref.Context())
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if auth != authn.Anonymous {
			cfg, _ := auth.Authorization()
			got = cfg.Username + ":" + cfg.Password
		}
		if got != want {
			t.Errorf("%s: %q, want %q", image, got, want)
		}
		if (k.Fingerprint(ref.Context()) == "") != (want == "") {
			t.Errorf("%s: fingerprint %q", image, k.Fingerprint(ref.Context()))
		}
	}
	for name, s := range map[string]PullSecret{
		"opaque":   {Name: "s", Type: "Opaque", Data: map[string][]byte{"x": []byte("y")}},
		"not json": {Name: "s", Type: SecretDockerConfigJSON, Data: map[string][]byte{".dockerconfigjson": []byte("{")}},
		"bad auth": {Name: "s", Type: SecretDockerConfigJSON, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"r.example":{"auth":"!!"}}}`)}},
		"no colon": {Name: "s", Type: SecretDockerConfigJSON, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"r.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("nocolon")) + `"}}}`)}},
		"bad host": {Name: "s", Type: SecretDockerConfigJSON, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"https://":{"username":"u"}}}`)}},
	} {
		if _, err := NewPullSecrets([]PullSecret{s}); err == nil || !strings.Contains(err.Error(), "pull secret s") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
