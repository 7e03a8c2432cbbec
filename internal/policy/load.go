package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// LoadOptions say how documents refer to other files.
type LoadOptions struct {
	// BaseDir resolves relative key files.
	BaseDir string
	// ReadFile reads key files; nil refuses them (inline keys only).
	ReadFile func(string) ([]byte, error)
	// SecretKey reads the public key a Kubernetes Secret holds, for
	// Kyverno's k8s://NAMESPACE/NAME keys; nil refuses them (no cluster).
	SecretKey SecretKeyReader
}

// SecretKeyReader reads the PEM public key of Secret namespace/name (its
// cosign.pub, as cosign and Kyverno read it).
type SecretKeyReader func(namespace, name string) ([]byte, error)

// Documents is what a set of files held.
type Documents struct {
	Policies   []*Policy
	Exceptions []evidence.Exception
	Warnings   []string
	// ratify are Ratify documents that need the others loaded beside them
	// (resolveRatify)
	ratify []ratifyPending
}

var knownKinds = strings.Join([]string{KindPolicy, KindClusterPolicy, KindKyvernoClusterPolicy + ", " + KindKyvernoPolicy + ", " + KindImageValidatingPolicy + " or " + KindNamespacedImageValidatingPolicy + " (Kyverno)", KindException}, ", ")

// Parse decodes every document in data (named name in errors): dossier
// policies, ClusterImagePolicies, Kyverno ClusterPolicies, Policies and
// (Namespaced)ImageValidatingPolicies, exceptions, or scan's older ignore
// file.
// The first invalid document fails the whole file.
func Parse(name string, data []byte, opts LoadOptions) (*Documents, error) {
	out := &Documents{}
	if isIgnoreFile(data) {
		ex, warns, err := decodeIgnoreFile(name, data)
		if err != nil {
			return nil, err
		}
		out.Exceptions, out.Warnings = ex, warns
		return out, nil
	}
	docs, err := splitDocuments(name, data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no documents", name)
	}
	for _, d := range docs {
		if strings.HasPrefix(d.header.APIVersion, "config.ratify.deislabs.io/") {
			if err := decodeRatify(d, opts, out); err != nil {
				return nil, err
			}
			continue
		}
		if isRatifyV2(d.header.APIVersion) {
			if err := decodeRatifyExecutor(d, opts, out); err != nil {
				return nil, err
			}
			continue
		}
		switch d.header.Kind {
		case KindPolicy, KindException:
			if d.header.APIVersion != APIVersion {
				return nil, fieldError(d.source, "apiVersion", "%q: %s is read as %s", d.header.APIVersion, d.header.Kind, APIVersion)
			}
		}
		switch d.header.Kind {
		case KindPolicy:
			p, err := decodeNative(d, opts)
			if err != nil {
				return nil, err
			}
			out.Policies = append(out.Policies, p)
			out.Warnings = append(out.Warnings, p.Warnings...)
		case KindClusterPolicy:
			p, err := decodeCIP(d)
			if err != nil {
				return nil, err
			}
			out.Policies = append(out.Policies, p)
			out.Warnings = append(out.Warnings, p.Warnings...)
		case KindImageValidatingPolicy, KindNamespacedImageValidatingPolicy:
			p, err := decodeIVP(d)
			if err != nil {
				return nil, err
			}
			out.Policies = append(out.Policies, p)
			out.Warnings = append(out.Warnings, p.Warnings...)
		case KindKyvernoClusterPolicy, KindKyvernoPolicy:
			if !strings.HasPrefix(d.header.APIVersion, "kyverno.io/") {
				return nil, fieldError(d.source, "kind", "%q: want %s", d.header.Kind, knownKinds)
			}
			p, err := decodeKyverno(d, opts.SecretKey)
			if err != nil {
				return nil, err
			}
			out.Policies = append(out.Policies, p)
			out.Warnings = append(out.Warnings, p.Warnings...)
		case KindException:
			e, err := decodeException(d)
			if err != nil {
				return nil, err
			}
			out.Exceptions = append(out.Exceptions, e)
		case "":
			return nil, fieldError(d.source, "kind", "missing: want %s", knownKinds)
		default:
			return nil, fieldError(d.source, "kind", "%q: want %s", d.header.Kind, knownKinds)
		}
	}
	return out, nil
}

// LoadSet reads policy and exception files into a set (empty when none
// are given), with the loader's warnings.
func LoadSet(paths ...string) (*Set, []string, error) {
	set := &Set{}
	if len(paths) == 0 {
		return set, nil, nil
	}
	docs, err := Load(paths...)
	if err != nil {
		return nil, nil, err
	}
	set.Policies, set.Exceptions = docs.Policies, docs.Exceptions
	return set, docs.Warnings, nil
}

// Load reads files, and the *.yaml / *.yml files of directories (sorted,
// not recursive), and checks that names are unique across them. Keys in
// Kubernetes Secrets are refused: see LoadReadingSecrets.
func Load(paths ...string) (*Documents, error) {
	return LoadReadingSecrets(nil, paths...)
}

// LoadReadingSecrets is Load, reading the keys policies keep in
// Kubernetes Secrets with secretKey.
func LoadReadingSecrets(secretKey SecretKeyReader, paths ...string) (*Documents, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				found = append(found, filepath.Join(p, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no .yaml or .yml files", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	all := &Documents{}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if info.Size() > maxFileSize {
			return nil, fmt.Errorf("%s: %d bytes is larger than the %d KiB a policy or exception file may have", f, info.Size(), maxFileSize>>10)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		docs, err := Parse(f, data, LoadOptions{BaseDir: filepath.Dir(f), ReadFile: readKeyFile, SecretKey: secretKey})
		if err != nil {
			return nil, err
		}
		all.Policies = append(all.Policies, docs.Policies...)
		all.Exceptions = append(all.Exceptions, docs.Exceptions...)
		all.Warnings = append(all.Warnings, docs.Warnings...)
		all.ratify = append(all.ratify, docs.ratify...)
	}
	if err := all.resolveRatify(); err != nil {
		return nil, err
	}
	if err := all.checkUnique(); err != nil {
		return nil, err
	}
	return all, nil
}

func readKeyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > 64<<10 {
		return nil, fmt.Errorf("%s: larger than a public key can be", path)
	}
	return os.ReadFile(path)
}

func (d *Documents) checkUnique() error {
	policies := map[string]string{}
	for _, p := range d.Policies {
		if prev, dup := policies[p.Name]; dup {
			return fmt.Errorf("policy %q is defined in %s and again in %s", p.Name, prev, p.Source)
		}
		policies[p.Name] = p.Source
	}
	exceptions := map[string]string{}
	for _, e := range d.Exceptions {
		key := e.Namespace + "/" + e.Name
		if prev, dup := exceptions[key]; dup && !e.AllDigests {
			return fmt.Errorf("exception %q is defined in %s and again in %s", e.Name, prev, e.Source)
		}
		exceptions[key] = e.Source
	}
	return nil
}

func mustMarshal(n *yaml.Node) string {
	out, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Sprint(n) // cannot happen for a node just parsed
	}
	return string(out)
}
