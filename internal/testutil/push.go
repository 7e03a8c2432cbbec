package testutil

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushSample copies a sample layout's tagged manifest (image or index) to
// ref in a registry (with the credentials of DOCKER_CONFIG, when the
// registry asks) and returns its digest.
func PushSample(t testing.TB, sample, ref string) string {
	t.Helper()
	idx, desc := SampleTagged(t, sample)
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType.IsIndex() {
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		err = remote.WriteIndex(r, child, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	} else {
		img, ierr := idx.Image(desc.Digest)
		if ierr != nil {
			t.Fatal(ierr)
		}
		err = remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	if err != nil {
		t.Fatalf("pushing %s to %s: %v", sample, ref, err)
	}
	return desc.Digest.String()
}
