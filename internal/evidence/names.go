package evidence

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// DockerHub is the one name dossier gives Docker Hub's registry, as
// go-containerregistry does.
const DockerHub = "index.docker.io"

// dockerHubAliases are the other names clients reach Docker Hub by.
var dockerHubAliases = map[string]bool{"docker.io": true, "registry-1.docker.io": true, "registry.hub.docker.com": true}

// CanonicalHost is the one spelling of a registry host that dossier keys
// evidence by, compares and matches: lower case, without a trailing dot or
// the HTTPS port (443), a port without leading zeros, an IP address as Go
// prints it (IPv6 compressed, an IPv4-mapped one as IPv4), Docker Hub's
// aliases as index.docker.io, and localhost as 127.0.0.1. Two spellings of
// one registry must never name two things, or a policy written for one is
// talked around with the other.
func CanonicalHost(host string) string {
	host = strings.ToLower(host)
	name, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
	} else {
		name = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	name = strings.TrimSuffix(name, ".")
	if name == "localhost" {
		name = "127.0.0.1"
	}
	if addr, err := netip.ParseAddr(name); err == nil {
		name = addr.Unmap().String()
	}
	if n, err := strconv.Atoi(port); err == nil && n >= 0 {
		port = strconv.Itoa(n)
	}
	if dockerHubAliases[name] {
		name = DockerHub
	}
	if port == "443" {
		port = ""
	}
	if port == "" {
		if strings.Contains(name, ":") { // an IPv6 address keeps its brackets
			return "[" + name + "]"
		}
		return name
	}
	return net.JoinHostPort(name, port)
}

// LooksLikeHost says whether the first segment of a name is a registry
// host rather than the first part of a Docker Hub repository path, by the
// rule container runtimes use: it holds a dot or a port, or is localhost.
func LooksLikeHost(segment string) bool {
	return strings.ContainsAny(segment, ".:") || strings.EqualFold(segment, "localhost") || strings.HasPrefix(segment, "[")
}

// registryHost is the grammar of a registry host (distribution's domain,
// with an optional trailing dot): names, or a bracketed IPv6 address, and
// an optional port. Other first segments ("oci-layout:") are not hosts.
var registryHost = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*\.?|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$`)

// ValidHost says a name is a registry host clients can name images by:
// host[:port] with a dot or a port, or localhost. A name of numbers alone
// must be an IPv4 address as written everywhere: "127.1" or
// "127.000.000.001" reach 127.0.0.1 through some resolvers and not
// others, so they name no one registry.
func ValidHost(host string) bool {
	if !registryHost.MatchString(host) || !LooksLikeHost(host) {
		return false
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(name, ".")
	if numeric.MatchString(name) {
		_, err := netip.ParseAddr(name)
		return err == nil
	}
	return true
}

// numeric is a name of numbers (decimal or hex) and dots: an IP address or
// nothing.
var numeric = regexp.MustCompile(`^(?i:(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*)$`)

// CanonicalRepository is a repository name ("host/path") with its host
// spelled canonically, and Docker Hub's official images under library/.
// Names that do not begin with a registry host (local sources such as
// "oci-layout:/dir" included) are returned unchanged.
func CanonicalRepository(repository string) string {
	host, path, ok := strings.Cut(repository, "/")
	if !ok || !ValidHost(host) {
		return repository
	}
	host = CanonicalHost(host)
	if host == DockerHub && !strings.Contains(path, "/") && !strings.Contains(path, "**") {
		path = "library/" + path
	}
	return host + "/" + path
}

// ImageRepository is the canonical repository an image reference names,
// read as a container runtime reads it: without its tag or digest, on
// Docker Hub when it names no registry host ("busybox:1" is
// index.docker.io/library/busybox).
func ImageRepository(image string) string {
	name, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	if first, _, ok := strings.Cut(name, "/"); !ok || !LooksLikeHost(first) {
		name = DockerHub + "/" + name
	}
	return CanonicalRepository(name)
}
