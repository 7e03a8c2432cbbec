// Command osvdelta splits OSV bulk zips into a database "before" and a
// one-day change, for timing a rescan after a day's advisory update. The
// change is every record last modified (or, undated, published) on the
// busiest day of each ecosystem that dates its records, and -go records of
// the Go database drawn at random (its copy here carries no dates). It
// writes OUT/before/<n>.zip (each input without the change) and
// OUT/delta.zip (the change), unmodified records both.
package main

import (
	"archive/zip"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/dossier-dev/dossier/bench/osvzip"
)

func main() {
	out := flag.String("out", "", "output directory")
	goRecords := flag.Int("go", 10, "Go records in the change, drawn at random")
	flag.Parse()
	if err := run(*out, *goRecords, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "osvdelta:", err)
		os.Exit(1)
	}
}

type record struct {
	name string
	data []byte
	day  string
}

func run(out string, goRecords int, zips []string) error {
	if out == "" || len(zips) == 0 {
		return fmt.Errorf("usage: osvdelta -out DIR ZIP...")
	}
	if err := os.MkdirAll(filepath.Join(out, "before"), 0o755); err != nil {
		return err
	}
	delta, err := os.Create(filepath.Join(out, "delta.zip"))
	if err != nil {
		return err
	}
	defer delta.Close()
	dz := zip.NewWriter(delta)
	rng := rand.New(rand.NewPCG(3, 4))
	for i, path := range zips {
		records, err := read(path)
		if err != nil {
			return err
		}
		ecosystem := filepath.Base(filepath.Dir(path))
		changed := map[string]bool{}
		if ecosystem == "Go" {
			for _, j := range rng.Perm(len(records))[:min(goRecords, len(records))] {
				changed[records[j].name] = true
			}
		} else {
			perDay := map[string]int{}
			busiest := ""
			for _, r := range records {
				if r.day == "" {
					continue
				}
				perDay[r.day]++
				if perDay[r.day] > perDay[busiest] || (perDay[r.day] == perDay[busiest] && r.day > busiest) {
					busiest = r.day
				}
			}
			for _, r := range records {
				if r.day == busiest && busiest != "" {
					changed[r.name] = true
				}
			}
		}
		before, err := os.Create(filepath.Join(out, "before", fmt.Sprintf("%d.zip", i)))
		if err != nil {
			return err
		}
		bz := zip.NewWriter(before)
		for _, r := range records {
			w := bz
			if changed[r.name] {
				w = dz
			}
			f, err := w.Create(ecosystem + "-" + r.name)
			if err != nil {
				return err
			}
			if _, err := f.Write(r.data); err != nil {
				return err
			}
		}
		if err := bz.Close(); err != nil {
			return err
		}
		if err := before.Close(); err != nil {
			return err
		}
		fmt.Printf("%s: %d records, %d in the change\n", ecosystem, len(records), len(changed))
	}
	return dz.Close()
}

// read loads a zip's records with the day each was last changed.
func read(path string) ([]record, error) {
	var out []record
	err := osvzip.Each(path, func(name string, data []byte) (bool, error) {
		var dates struct{ Modified, Published string }
		if err := json.Unmarshal(data, &dates); err != nil {
			return false, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		day := dates.Modified
		if strings.HasPrefix(day, "0001") {
			day = dates.Published
		}
		if len(day) >= 10 {
			day = day[:10]
		} else {
			day = ""
		}
		out = append(out, record{name: name, data: data, day: day})
		return true, nil
	})
	return out, err
}
