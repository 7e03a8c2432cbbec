package cli

import (
	"context"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
	"github.com/dossier-dev/dossier/internal/metrics"
	"github.com/dossier-dev/dossier/internal/store"
	"github.com/dossier-dev/dossier/internal/vulndb"
)

// serverMetrics makes the metrics of a server: the gauges read the scan
// queue and the exceptions from st (when there is one), the exception
// files, and the advisory database under dataDir.
func (a *app) serverMetrics(st store.Store, dataDir string, exceptionFiles []string) *metrics.Metrics {
	m := metrics.New()
	fromFiles := a.fileExceptions(exceptionFiles)
	g := metrics.Gauges{
		AdvisoryDatabase: func(ctx context.Context) (time.Time, bool, error) {
			db, _, err := vulndb.OpenIfPresent(dataDir)
			if db == nil || err != nil {
				return time.Time{}, false, err
			}
			defer db.Close()
			at, err := db.LastImport(ctx)
			return at, err == nil, err
		},
		Exceptions: func(ctx context.Context) (active, expiring int, err error) {
			var files, stored []evidence.Exception
			if fromFiles != nil {
				files = fromFiles()
			}
			if st != nil {
				if stored, err = st.Exceptions(ctx); err != nil {
					return 0, 0, err
				}
			}
			now := time.Now()
			for _, e := range evidence.MergeExceptions(files, stored) {
				if e.Expired(now) {
					continue
				}
				active++
				if e.Expiring(now) {
					expiring++
				}
			}
			return active, expiring, nil
		},
	}
	if st != nil {
		g.QueuedJobs = st.QueuedJobs
	}
	m.Watch(g)
	return m
}
