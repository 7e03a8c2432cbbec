package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/tokens"
)

// lacks names what the actor may not do for this request, or "".
func lacks(a *tokens.Actor, rt route, req *http.Request) string {
	if rt.catalog {
		if !a.Has(store.RoleAdmin) {
			return "list the catalog (admin)"
		}
		return ""
	}
	if rt.name == "" { // the base route: any reader
		if !a.Has(store.RolePull) {
			return "use the registry (a " + a.Role + " token)"
		}
		return ""
	}
	need := store.RolePull
	switch req.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodDelete:
		need = store.RoleAdmin
	default:
		need = store.RolePush
	}
	if !a.Reaches(rt.name) || !a.Has(need) {
		return fmt.Sprintf("%s repository %s", map[string]string{store.RolePull: "pull from", store.RolePush: "push to", store.RoleAdmin: "delete in"}[need], rt.name)
	}
	// mounting a blob from another repository reads that one: every
	// value, as distribution may read any (form bodies are refused)
	if rt.kind == "uploads" {
		for _, from := range req.URL.Query()["from"] {
			if !a.Reaches(from) {
				return "pull from repository " + from
			}
		}
	}
	return ""
}

type actorKey struct{}

func withActor(ctx context.Context, a *tokens.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}
