package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/dossier-dev/dossier/internal/attest"
	"github.com/dossier-dev/dossier/internal/collect"
	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/oci"
	"github.com/dossier-dev/dossier/internal/sign"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/testutil"
)

// Promotion copies a signed digest with its signatures — a bundle
// referrer, cosign's legacy tag — when the destination's policy allows
// it, tagging it as asked; it refuses an unsigned one and copies nothing;
// both are recorded with who asked.
func TestPromote(t *testing.T) {
	ctx := context.Background()
	src, dst := testutil.Registry(t), testutil.Registry(t)
	kp, set, trust := signedBy(t, dst+"/prod/**")
	resolve := func(ref string) *oci.Artifact {
		t.Helper()
		source, err := oci.ParseSource(ref)
		if err != nil {
			t.Fatal(err)
		}
		art, err := oci.Resolve(ctx, source, oci.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return art
	}
	testutil.PushSample(t, "npm-app", src+"/team/app:v1")
	app := resolve(src + "/team/app:v1")
	appRepo, _ := app.Repository()
	appDesc, _ := app.SubjectDescriptor()
	if _, err := attest.SignImage(ctx, appRepo, appDesc, nil, sign.NewKeySigner(kp, ""), time.Now()); err != nil {
		t.Fatal(err)
	}
	testutil.PushSample(t, "debian", src+"/team/legacy:v1")
	legacy := resolve(src + "/team/legacy:v1")
	legacyRepo, _ := legacy.Repository()
	if _, err := sign.SignLegacy(ctx, legacyRepo, v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(legacy.Subject.Digest, "sha256:")}, kp, nil); err != nil {
		t.Fatal(err)
	}
	testutil.PushSample(t, "go-app", src+"/team/tool:v1")
	tool := resolve(src + "/team/tool:v1")
	st, err := store.Open(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	promote := func(art *oci.Artifact, repository, tag string) *Promoted {
		t.Helper()
		out, err := Promote(ctx, st, art, PromoteOptions{Repository: repository, Tag: tag, Set: set, Collect: collect.Options{Trust: trust, Now: func() time.Time { return now }},
			Actor: "release-bot", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if out := promote(app, dst+"/prod/app", "v1"); len(out.Refusals) > 0 || out.Attached != 1 || out.Reference != dst+"/prod/app:v1" {
		t.Errorf("promote the referrer-signed image: %+v", out)
	}
	if out := promote(legacy, dst+"/prod/legacy", ""); len(out.Refusals) > 0 || out.Attached != 1 || out.Reference != dst+"/prod/legacy@"+legacy.Subject.Digest {
		t.Errorf("promote the legacy-signed image: %+v", out)
	}
	for _, promoted := range []*oci.Artifact{app, legacy} {
		name := strings.Replace(promoted.Subject.Repository, src+"/team/", dst+"/prod/", 1)
		at := resolve(name + "@" + promoted.Subject.Digest)
		ev := collect.Collect(ctx, set, at, at.Subject.String(), collect.Options{Trust: trust})
		if len(ev.Signatures) != 1 {
			t.Errorf("%s at the destination: %d signatures verify, unavailable %v", at.Subject, len(ev.Signatures), ev.Unavailable)
		}
	}
	moves, err := st.TagHistory(ctx, dst+"/prod/app", "v1")
	if err != nil || len(moves) != 1 || moves[0].Digest != app.Subject.Digest || moves[0].Source != "promote from "+app.Subject.String()+" by release-bot" {
		t.Errorf("the promoted tag's history: %+v %v", moves, err)
	}

	out := promote(tool, dst+"/prod/tool", "v1")
	if len(out.Refusals) != 1 || !strings.Contains(out.Refusals[0], "policy release rule signed: no signature by") {
		t.Errorf("promote an unsigned image: %+v", out)
	}
	if _, err := oci.Resolve(ctx, oci.Source{Kind: oci.KindRegistry, Input: dst + "/prod/tool:v1", Reference: dst + "/prod/tool:v1"}, oci.RegistryOptions{}); err == nil {
		t.Errorf("the refused image was copied")
	}
	if d, err := st.Dossier(ctx, evidence.Subject{Repository: dst + "/prod/tool", Digest: tool.Subject.Digest}); err != nil || d != nil {
		t.Errorf("the refused image was recorded at the destination: %+v %v", d, err)
	}
	events, err := st.RegistryEvents(ctx, time.Time{}, 0)
	if err != nil || len(events) != 3 {
		t.Fatalf("promotion events: %+v %v", events, err)
	}
	if e := events[0]; e.Outcome != "refused" || e.Digest != tool.Subject.Digest || e.Actor != "release-bot" || !strings.Contains(e.Reason, "no signature by") {
		t.Errorf("the refusal's event: %+v", e)
	}
	if e := events[1]; e.Outcome != "promoted" || e.Reference != dst+"/prod/legacy@"+legacy.Subject.Digest || !e.At.Equal(now) {
		t.Errorf("the promotion's event: %+v", e)
	}

	index, err := random.Index(64, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(ctx, st, layoutIndex(t, index), PromoteOptions{Repository: dst + "/prod/app", Set: set, Now: now}); err == nil || !strings.Contains(err.Error(), "not in one") {
		t.Errorf("a source outside a registry: %v", err)
	}
}
