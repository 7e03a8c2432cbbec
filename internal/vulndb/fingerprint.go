package vulndb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Fingerprint identifies the content of one advisory as matching sees it,
// and the packages it names, so that a later state of the database can be
// compared with an earlier one advisory by advisory.
type Fingerprint struct {
	Hash string `json:"hash"`
	// Packages are "ecosystem/name" keys as PackageKey makes them.
	Packages []string `json:"packages"`
}

// PackageKey names a package as the index does: the ecosystem without
// release and the normalised name.
func PackageKey(ecosystem, name string) string {
	base := BaseEcosystem(ecosystem)
	return base + "/" + NormalizeName(base, name)
}

// Fingerprints reads the fingerprint of every advisory.
func (d *DB) Fingerprints(ctx context.Context) (out map[string]Fingerprint, err error) {
	err = d.read(func(g *generation) error {
		out, err = fingerprints(ctx, g, d.path)
		return err
	})
	return out, err
}

func fingerprints(ctx context.Context, g *generation, path string) (map[string]Fingerprint, error) {
	out := map[string]Fingerprint{}
	rows, err := g.sql.QueryContext(ctx, `SELECT id, withdrawn, match FROM vulns`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for rows.Next() {
		var id string
		var withdrawn int
		var match []byte
		if err := rows.Scan(&id, &withdrawn, &match); err != nil {
			rows.Close()
			return nil, err
		}
		h := sha256.New()
		fmt.Fprintf(h, "%d\x00", withdrawn)
		h.Write(match)
		out[id] = Fingerprint{Hash: hex.EncodeToString(h.Sum(nil))}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = g.sql.QueryContext(ctx, `SELECT vuln_id, ecosystem, name FROM affected ORDER BY vuln_id, ecosystem, name`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, ecosystem, name string
		if err := rows.Scan(&id, &ecosystem, &name); err != nil {
			return nil, err
		}
		f := out[id]
		key := ecosystem + "/" + name // stored already without release and normalised
		if n := len(f.Packages); n == 0 || f.Packages[n-1] != key {
			f.Packages = append(f.Packages, key)
		}
		out[id] = f
	}
	return out, rows.Err()
}
