package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dossier-dev/dossier/internal/evidence"
)

// The kinds of a Pod's containers.
const (
	ContainerApp       = "container"
	ContainerInit      = "init"
	ContainerEphemeral = "ephemeral"
)

// Where the digest a container runs was read.
const (
	// DigestFromStatus: the container status's imageID, as the kubelet
	// reported what it started.
	DigestFromStatus = "status"
	// DigestFromReference: the image as written names a digest, and the
	// status did not say otherwise.
	DigestFromReference = "reference"
)

// How a running container stands against what was admitted in its
// cluster and namespace.
const (
	// RunningAdmitted: a dossier decision admitted this digest there.
	RunningAdmitted = "admitted"
	// RunningDrifted: the image as written was admitted there, as another
	// digest (a tag moved under a Pod that was not pinned).
	RunningDrifted = "drifted"
	// RunningUnjudged: no dossier decision admitted it there (the webhook
	// failed open, was bypassed or absent, or the Pod is older than it).
	RunningUnjudged = "unjudged"
	// RunningUnresolved: the cluster does not say which digest runs (no
	// imageID reported and the image is not pinned).
	RunningUnresolved = "unresolved"
)

// RunningContainer is one container of a Pod as its cluster reports it.
type RunningContainer struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	PodUID    string `json:"podUID"`
	Container string `json:"container"`
	// Kind is ContainerApp, ContainerInit or ContainerEphemeral.
	Kind string `json:"kind"`
	// Workload is "Kind/name" of the Pod's owner at the top of its owner
	// chain ("Deployment/web"), or "Pod/name" for a Pod nobody owns.
	Workload string `json:"workload"`
	Node     string `json:"node"`
	// Image is the reference as written in the Pod.
	Image string `json:"image"`
	// Subject is the digest that runs (empty when the cluster does not
	// say), DigestFrom where it was read.
	Subject    evidence.Subject `json:"subject"`
	DigestFrom string           `json:"digestFrom,omitempty"`
	Started    time.Time        `json:"started"`
	// Stopped is when it stopped running (nil while it runs).
	Stopped *time.Time `json:"stopped,omitempty"`
}

// PodState is every container of one Pod that has started, as a watch
// saw it last.
type PodState struct {
	UID        string
	Containers []RunningContainer
}

// runningKey identifies a container row: a restart of the same image and
// digest is the same row, another digest a new one.
type runningKey struct{ uid, kind, container, imageKey, digest string }

func keyOf(c RunningContainer) runningKey {
	return runningKey{c.PodUID, c.Kind, c.Container, imageKey(c.Image), c.Subject.Digest}
}

// stored is the container as the store keeps its text (storable).
func (c RunningContainer) stored() RunningContainer {
	for _, f := range []*string{&c.Cluster, &c.Namespace, &c.Pod, &c.PodUID, &c.Container, &c.Workload, &c.Node, &c.Image, &c.Subject.Repository} {
		*f = storable(*f)
	}
	return c
}

// PodsSeen records what Pods of a cluster run now: each container is
// opened (or kept open, or closed when it finished), and the open rows of
// those Pods that are no longer reported are closed at at. Writes are
// idempotent: two watchers of one cluster reporting the same Pods leave
// one row per container.
func (s *Store) PodsSeen(ctx context.Context, cluster string, pods []PodState, at time.Time) error {
	defer s.timed("pods_seen")()
	if cluster == "" {
		return fmt.Errorf("pods seen: the cluster has no name")
	}
	var rows [][]any
	current := map[runningKey]bool{}
	uids := make([]string, 0, len(pods))
	for _, p := range pods {
		if p.UID == "" {
			return fmt.Errorf("pods seen in %s: a Pod without a UID", cluster)
		}
		uids = append(uids, storable(p.UID))
		for _, c := range p.Containers {
			if err := c.Check(cluster, p.UID); err != nil {
				return err
			}
			c = c.stored()
			k := keyOf(c)
			if current[k] {
				continue
			}
			current[k] = true
			var stopped *int64
			if c.Stopped != nil {
				v := micros(*c.Stopped)
				stopped = &v
			}
			rows = append(rows, []any{c.Cluster, c.Namespace, c.Pod, c.PodUID, c.Container, c.Kind, c.Workload, c.Node,
				c.Image, k.imageKey, c.Subject.Repository, c.Subject.Digest, c.DigestFrom, micros(c.Started), stopped})
		}
	}
	// concurrent writers take row locks in one order
	slices.SortFunc(rows, func(a, b []any) int {
		for i := 3; i <= 11; i++ {
			if c := strings.Compare(a[i].(string), b[i].(string)); c != 0 {
				return c
			}
		}
		return 0
	})
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.insertRows(ctx, tx, `INSERT INTO running_containers (cluster, namespace, pod, pod_uid, container, container_kind, workload, node,
		image, image_key, repository, digest, digest_source, started, stopped) VALUES `, 15, `
		ON CONFLICT (cluster, pod_uid, container_kind, container, image_key, digest) DO UPDATE SET
			namespace = excluded.namespace, pod = excluded.pod, workload = excluded.workload, node = excluded.node,
			repository = excluded.repository, digest_source = excluded.digest_source,
			started = CASE WHEN excluded.started < running_containers.started THEN excluded.started ELSE running_containers.started END,
			stopped = excluded.stopped`, rows); err != nil {
		return fmt.Errorf("pods seen in %s: %w", cluster, err)
	}
	if err := s.closeRunning(ctx, tx, cluster, uids, func(k runningKey) bool { return !current[k] }, at); err != nil {
		return fmt.Errorf("pods seen in %s: %w", cluster, err)
	}
	if err := s.clusterSeen(ctx, tx, cluster, at, false); err != nil {
		return err
	}
	return tx.Commit()
}

// Check says why the store would refuse a container reported for a
// cluster's Pod uid (nil when it would not).
func (c RunningContainer) Check(cluster, uid string) error {
	switch {
	case c.Cluster != cluster || c.PodUID != uid:
		return fmt.Errorf("container %s of Pod %s: reported under cluster %q and Pod %s", c.Container, uid, c.Cluster, c.PodUID)
	case c.Namespace == "" || c.Pod == "" || c.Container == "" || c.Image == "":
		return fmt.Errorf("container %q of Pod %s/%s in %s: a container needs a namespace, a Pod, a name and an image", c.Container, c.Namespace, c.Pod, cluster)
	case c.Kind != ContainerApp && c.Kind != ContainerInit && c.Kind != ContainerEphemeral:
		return fmt.Errorf("container %s of Pod %s/%s in %s: kind %q is not a container kind", c.Container, c.Namespace, c.Pod, cluster, c.Kind)
	case c.Subject.Digest != "" && (!evidence.ValidDigest(c.Subject.Digest) || c.Subject.Repository == ""):
		return fmt.Errorf("container %s of Pod %s/%s in %s: %q is not a digest of a repository", c.Container, c.Namespace, c.Pod, cluster, c.Subject)
	case c.Subject.Digest != "" && c.DigestFrom != DigestFromStatus && c.DigestFrom != DigestFromReference:
		return fmt.Errorf("container %s of Pod %s/%s in %s: the digest's source %q is not known", c.Container, c.Namespace, c.Pod, cluster, c.DigestFrom)
	case c.Started.IsZero():
		return fmt.Errorf("container %s of Pod %s/%s in %s: no start time", c.Container, c.Namespace, c.Pod, cluster)
	}
	return nil
}

// PodsGone closes every open container of Pods that were deleted.
func (s *Store) PodsGone(ctx context.Context, cluster string, uids []string, at time.Time) error {
	defer s.timed("pods_gone")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.closeRunning(ctx, tx, cluster, uids, func(runningKey) bool { return true }, at); err != nil {
		return fmt.Errorf("pods gone from %s: %w", cluster, err)
	}
	if err := s.clusterSeen(ctx, tx, cluster, at, false); err != nil {
		return err
	}
	return tx.Commit()
}

// ClusterListed closes the open containers of every Pod of a cluster
// that a full list of its Pods (uids) no longer holds: what stopped while
// no watch ran, or while the watch was cut off.
func (s *Store) ClusterListed(ctx context.Context, cluster string, uids []string, at time.Time) error {
	defer s.timed("cluster_listed")()
	if cluster == "" {
		return fmt.Errorf("cluster listed: the cluster has no name")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	present := make(map[string]bool, len(uids))
	for _, u := range uids {
		present[u] = true
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT DISTINCT pod_uid FROM running_containers WHERE cluster = ? AND stopped IS NULL`), cluster)
	if err != nil {
		return err
	}
	var gone []string
	if err := each(rows, func() error {
		var uid string
		err := rows.Scan(&uid)
		if !present[uid] {
			gone = append(gone, uid)
		}
		return err
	}); err != nil {
		return err
	}
	if err := s.closeRunning(ctx, tx, cluster, gone, func(runningKey) bool { return true }, at); err != nil {
		return fmt.Errorf("pods listed in %s: %w", cluster, err)
	}
	if err := s.clusterSeen(ctx, tx, cluster, at, true); err != nil {
		return err
	}
	return tx.Commit()
}

// ClusterSeen says a cluster's watch is alive at at.
func (s *Store) ClusterSeen(ctx context.Context, cluster string, at time.Time) error {
	defer s.timed("cluster_seen")()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.clusterSeen(ctx, tx, cluster, at, false); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) clusterSeen(ctx context.Context, tx *sql.Tx, cluster string, at time.Time, listed bool) error {
	listedAt := int64(0)
	if listed {
		listedAt = micros(at)
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO clusters (name, listed_at, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			listed_at = CASE WHEN excluded.listed_at > clusters.listed_at THEN excluded.listed_at ELSE clusters.listed_at END,
			seen_at = CASE WHEN excluded.seen_at > clusters.seen_at THEN excluded.seen_at ELSE clusters.seen_at END`), cluster, listedAt, micros(at))
	if err != nil {
		return fmt.Errorf("cluster %s: %w", cluster, err)
	}
	return nil
}

// closeRunning closes, at at, the open containers of the Pods uids that
// close selects.
func (s *Store) closeRunning(ctx context.Context, tx *sql.Tx, cluster string, uids []string, close func(runningKey) bool, at time.Time) error {
	var ids []any
	for _, chunk := range chunks(uids, 500) {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, pod_uid, container_kind, container, image_key, digest FROM running_containers
			WHERE cluster = ? AND pod_uid IN (`+placeholders(len(chunk))+`) AND stopped IS NULL`), append([]any{cluster}, anys(chunk)...)...)
		if err != nil {
			return err
		}
		if err := each(rows, func() error {
			var id int64
			var k runningKey
			err := rows.Scan(&id, &k.uid, &k.kind, &k.container, &k.imageKey, &k.digest)
			if close(k) {
				ids = append(ids, id)
			}
			return err
		}); err != nil {
			return err
		}
	}
	slices.SortFunc(ids, func(a, b any) int { return int(a.(int64) - b.(int64)) })
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE running_containers SET stopped = ? WHERE id IN (`+placeholders(len(chunk))+`)`), append([]any{micros(at)}, chunk...)...); err != nil {
			return err
		}
	}
	return nil
}

// judged is the SQL expression of how a running container (r) stands
// against what dossier admitted in its cluster and namespace: one of the
// Running* states. Only decisions that admitted after judging count: a
// webhook that failed open judged nothing.
const judged = `CASE
	WHEN r.digest = '' THEN 'unresolved'
	WHEN EXISTS (SELECT 1 FROM subjects js JOIN admissions ja ON ja.subject_id = js.id
		WHERE js.digest = r.digest AND ja.cluster = r.cluster AND ja.namespace = r.namespace AND ja.outcome IN ('allowed', 'audited', 'waived')) THEN 'admitted'
	WHEN EXISTS (SELECT 1 FROM admissions ja WHERE ja.cluster = r.cluster AND ja.namespace = r.namespace AND ja.image_key = r.image_key
		AND ja.image = r.image AND ja.subject_id IS NOT NULL AND ja.outcome IN ('allowed', 'audited', 'waived')) THEN 'drifted'
	ELSE 'unjudged' END`

// RunningFilter narrows running containers to a cluster and a namespace
// (each: all when empty).
type RunningFilter struct {
	Cluster   string
	Namespace string
}

// condition is the filter's SQL condition on running_containers r (open
// rows only) and its arguments.
func (f RunningFilter) condition() (string, []any) {
	cond, args := `r.stopped IS NULL`, []any{}
	if f.Cluster != "" {
		cond, args = cond+` AND r.cluster = ?`, append(args, f.Cluster)
	}
	if f.Namespace != "" {
		cond, args = cond+` AND r.namespace = ?`, append(args, f.Namespace)
	}
	return cond, args
}

// RunningHit is a container that runs now, with the state of its digest's
// evidence.
type RunningHit struct {
	RunningContainer
	// State is one of the Running* states; Admitted, for a drifted
	// container, the digest its image was admitted as.
	State    string `json:"state"`
	Admitted string `json:"admitted,omitempty"`
	// Pinned says the image as written names a digest.
	Pinned bool `json:"pinned"`
	// Signers are who signed the digest (verified signatures recorded).
	Signers []evidence.Signer `json:"signers"`
	// OpenFindings counts the digest's open findings by severity rating
	// (suppressed ones not counted); Scanned says whether any scan of it is
	// recorded.
	OpenFindings map[string]int `json:"openFindings"`
	Scanned      bool           `json:"scanned"`
	// LastDecision is the latest admission decision about this digest in
	// the container's cluster and namespace; Background the latest
	// background decision about it there (the policies in force evaluated
	// on recorded evidence), when one was made.
	LastDecision *Admission `json:"lastDecision,omitempty"`
	Background   *Judgement `json:"background,omitempty"`
}

// ClusterState is what dossier knows of a watched cluster's inventory:
// when its Pods were last listed in full and when its watch last
// reported.
type ClusterState struct {
	Name     string    `json:"name"`
	ListedAt time.Time `json:"listedAt"`
	SeenAt   time.Time `json:"seenAt"`
}

// RunningPage is a page of what runs.
type RunningPage struct {
	Total    int            `json:"total"`
	Offset   int            `json:"offset"`
	Hits     []RunningHit   `json:"hits"`
	Clusters []ClusterState `json:"clusters"`
	// States counts every matching container by state.
	States map[string]int `json:"states"`
}

// RunningQuery selects running containers.
type RunningQuery struct {
	RunningFilter
	// State keeps one Running* state when set.
	State         string
	Offset, Limit int
	Scope         Scope
}

// Running lists what runs now, by cluster, namespace, workload, Pod and
// container, each with its judgement and its digest's evidence. A scope
// keeps to the containers whose digest (or image, when the digest is not
// known) is in a repository it sees.
func (s *Store) Running(ctx context.Context, q RunningQuery) (RunningPage, error) {
	defer s.timed("running")()
	page := RunningPage{Offset: q.Offset, Hits: []RunningHit{}, Clusters: []ClusterState{}, States: map[string]int{}}
	cond, args := q.condition()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.id, r.cluster, r.repository, r.image, `+judged+` FROM running_containers r WHERE `+cond), args...)
	if err != nil {
		return page, err
	}
	type row struct {
		id    int64
		state string
	}
	var selected []row
	// a scoped reader learns only of the clusters where something it sees
	// runs
	visible := map[string]bool{}
	if err := each(rows, func() error {
		var r row
		var cluster, repository, image string
		if err := rows.Scan(&r.id, &cluster, &repository, &image, &r.state); err != nil {
			return err
		}
		if repository == "" {
			repository = evidence.ImageRepository(image)
		}
		if !q.Scope.sees(repository) {
			return nil
		}
		visible[cluster] = true
		page.States[r.state]++
		if q.State == "" || q.State == r.state {
			selected = append(selected, r)
		}
		return nil
	}); err != nil {
		return page, err
	}
	// newest first: a page, or a bounded read, sees what started last
	slices.SortFunc(selected, func(a, b row) int { return int(b.id - a.id) })
	page.Total = len(selected)
	if q.Offset < len(selected) {
		selected = selected[q.Offset:]
	} else {
		selected = nil
	}
	if q.Limit > 0 && len(selected) > q.Limit {
		selected = selected[:q.Limit]
	}
	if page.Clusters, err = s.clusters(ctx, q.Cluster); err != nil {
		return page, err
	}
	if q.Scope != nil {
		page.Clusters = slices.DeleteFunc(page.Clusters, func(c ClusterState) bool { return !visible[c.Name] })
	}
	if len(selected) == 0 {
		return page, nil
	}
	states := map[int64]string{}
	ids := make([]any, len(selected))
	for i, r := range selected {
		ids[i], states[r.id] = r.id, r.state
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.id, `+runningColumns+`,
			(SELECT js.digest FROM admissions ja JOIN subjects js ON js.id = ja.subject_id WHERE ja.cluster = r.cluster AND ja.namespace = r.namespace
				AND ja.image_key = r.image_key AND ja.image = r.image AND ja.outcome IN ('allowed', 'audited', 'waived') ORDER BY ja.at DESC LIMIT 1)
			FROM running_containers r WHERE r.id IN (`+placeholders(len(chunk))+`)`), chunk...)
		if err != nil {
			return page, err
		}
		if err := each(rows, func() error {
			var id int64
			var admitted sql.NullString
			c, err := scanRunning(rows, []any{&id}, &admitted)
			if err != nil {
				return err
			}
			h := RunningHit{RunningContainer: c}
			h.State = states[id]
			if h.State == RunningDrifted {
				h.Admitted = admitted.String
			}
			h.Pinned = strings.Contains(h.Image, "@")
			page.Hits = append(page.Hits, h)
			return nil
		}); err != nil {
			return page, err
		}
	}
	slices.SortFunc(page.Hits, func(a, b RunningHit) int {
		return strings.Compare(a.Cluster+"\x00"+a.Namespace+"\x00"+a.Workload+"\x00"+a.Pod+"\x00"+a.Kind+"\x00"+a.Container,
			b.Cluster+"\x00"+b.Namespace+"\x00"+b.Workload+"\x00"+b.Pod+"\x00"+b.Kind+"\x00"+b.Container)
	})
	return page, s.runningEvidence(ctx, page.Hits)
}

// runningColumns are the columns scanRunning reads.
const runningColumns = `r.cluster, r.namespace, r.pod, r.pod_uid, r.container, r.container_kind, r.workload, r.node, r.image,
	r.repository, r.digest, r.digest_source, r.started, r.stopped`

// scanRunning reads runningColumns, after the targets before and
// followed by those after.
func scanRunning(rows *sql.Rows, before []any, after ...any) (RunningContainer, error) {
	var c RunningContainer
	var started int64
	var stopped sql.NullInt64
	dest := append(before, &c.Cluster, &c.Namespace, &c.Pod, &c.PodUID, &c.Container, &c.Kind, &c.Workload, &c.Node, &c.Image,
		&c.Subject.Repository, &c.Subject.Digest, &c.DigestFrom, &started, &stopped)
	if err := rows.Scan(append(dest, after...)...); err != nil {
		return c, err
	}
	c.Started = fromMicros(started)
	if stopped.Valid {
		t := fromMicros(stopped.Int64)
		c.Stopped = &t
	}
	return c, nil
}

// Clusters reads the watched clusters' inventory states (one when
// named).
func (s *Store) Clusters(ctx context.Context, name string) ([]ClusterState, error) {
	defer s.timed("clusters")()
	return s.clusters(ctx, name)
}

func (s *Store) clusters(ctx context.Context, name string) ([]ClusterState, error) {
	where, args := ``, []any{}
	if name != "" {
		where, args = ` WHERE name = ?`, append(args, name)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT name, listed_at, seen_at FROM clusters`+where+` ORDER BY name`), args...)
	if err != nil {
		return nil, err
	}
	out := []ClusterState{}
	err = each(rows, func() error {
		var c ClusterState
		var listed, seen int64
		err := rows.Scan(&c.Name, &listed, &seen)
		if listed > 0 {
			c.ListedAt = fromMicros(listed)
		}
		c.SeenAt = fromMicros(seen)
		out = append(out, c)
		return err
	})
	return out, err
}

// runningEvidence fills in each hit's signers, open findings, whether it
// was scanned and the last decision about it where it runs, reading each
// digest once.
func (s *Store) runningEvidence(ctx context.Context, hits []RunningHit) error {
	var digests []string
	for i := range hits {
		hits[i].Signers, hits[i].OpenFindings = []evidence.Signer{}, map[string]int{}
		if hits[i].Subject.Digest != "" {
			digests = append(digests, hits[i].Subject.Digest)
		}
	}
	slices.Sort(digests)
	digests = slices.Compact(digests)
	signers := map[string][]evidence.Signer{}
	scanned := map[string]bool{}
	type finding struct {
		digest string
		doc    int64
	}
	var findings []finding
	for _, chunk := range chunks(digests, 500) {
		in := placeholders(len(chunk))
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT s.digest, g.key_fingerprint, g.identity, g.issuer FROM signatures g JOIN subjects s ON s.id = g.subject_id
			WHERE s.digest IN (`+in+`) AND g.verified = 1 AND g.predicate_type = ? ORDER BY 1, 2, 3, 4`), append(anys(chunk), evidence.PredicateSignatures)...)
		if err != nil {
			return err
		}
		if err := each(rows, func() error {
			var digest string
			var g evidence.Signer
			err := rows.Scan(&digest, &g.KeyFingerprint, &g.Identity, &g.Issuer)
			signers[digest] = append(signers[digest], g)
			return err
		}); err != nil {
			return err
		}
		got, err := s.texts(ctx, `SELECT DISTINCT digest FROM subjects WHERE digest IN (`+in+`) AND scanned_at IS NOT NULL`, anys(chunk)...)
		if err != nil {
			return err
		}
		for _, d := range got {
			scanned[d] = true
		}
		// a digest recorded under two repositories has its findings twice:
		// each (finding, document) counts once
		rows, err = s.db.QueryContext(ctx, s.q(`SELECT DISTINCT s.digest, f.key_id, f.document_id FROM subject_findings f JOIN subjects s ON s.id = f.subject_id
			WHERE s.digest IN (`+in+`) AND f.resolved_at IS NULL`), anys(chunk)...)
		if err != nil {
			return err
		}
		if err := each(rows, func() error {
			var f finding
			var key int64
			err := rows.Scan(&f.digest, &key, &f.doc)
			findings = append(findings, f)
			return err
		}); err != nil {
			return err
		}
	}
	docs := make([]int64, len(findings))
	for i, f := range findings {
		docs[i] = f.doc
	}
	ratings, err := s.openRatings(ctx, docs)
	if err != nil {
		return err
	}
	open := map[string]map[string]int{}
	for _, f := range findings {
		rating, ok := ratings[f.doc]
		if !ok {
			continue // suppressed
		}
		if open[f.digest] == nil {
			open[f.digest] = map[string]int{}
		}
		open[f.digest][rating]++
	}
	type where struct{ cluster, namespace string }
	background := map[where]map[[2]string]*Judgement{}
	type place struct{ cluster, namespace, digest string }
	decisions := map[place]*Admission{}
	for i := range hits {
		h := &hits[i]
		d := h.Subject.Digest
		if d == "" {
			continue
		}
		h.Signers = append(h.Signers, signers[d]...)
		h.Scanned = scanned[d]
		for rating, n := range open[d] {
			h.OpenFindings[rating] = n
		}
		p := place{h.Cluster, h.Namespace, d}
		last, ok := decisions[p]
		if !ok {
			found, err := s.admissions(ctx, `a.cluster = ? AND a.namespace = ? AND a.subject_id IN (SELECT id FROM subjects WHERE digest = ?)`,
				[]any{h.Cluster, h.Namespace, d}, 1)
			if err != nil {
				return err
			}
			if len(found) > 0 {
				last = &found[0]
			}
			decisions[p] = last
		}
		h.LastDecision = last
		w := where{h.Cluster, h.Namespace}
		judged, ok := background[w]
		if !ok {
			all, err := s.Judgements(ctx, h.Cluster, h.Namespace)
			if err != nil {
				return err
			}
			judged = map[[2]string]*Judgement{}
			for i := range all {
				judged[[2]string{all[i].Image, all[i].Subject.Digest}] = &all[i]
			}
			background[w] = judged
		}
		h.Background = judged[[2]string{h.Image, d}]
	}
	return nil
}

// runningPlaces finds where each digest runs now (within filter, when
// set), by workload container.
func (s *Store) runningPlaces(ctx context.Context, digests []string, filter *RunningFilter) (map[string][]RunningPlace, error) {
	out := map[string][]RunningPlace{}
	cond, args := RunningFilter{}.condition()
	if filter != nil {
		cond, args = filter.condition()
	}
	for _, chunk := range chunks(digests, 500) {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.digest, r.cluster, r.namespace, r.workload, r.container, count(DISTINCT r.pod_uid) FROM running_containers r
			WHERE r.digest IN (`+placeholders(len(chunk))+`) AND `+cond+`
			GROUP BY r.digest, r.cluster, r.namespace, r.workload, r.container ORDER BY 1, 2, 3, 4, 5`), append(anys(chunk), args...)...)
		if err != nil {
			return nil, err
		}
		if err := each(rows, func() error {
			var digest string
			var p RunningPlace
			err := rows.Scan(&digest, &p.Cluster, &p.Namespace, &p.Workload, &p.Container, &p.Pods)
			out[digest] = append(out[digest], p)
			return err
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RunningCount is how many containers run now in a cluster in one state,
// pinned (the image as written names a digest) or not.
type RunningCount struct {
	Cluster    string
	State      string
	Pinned     bool
	Containers int
}

// RunningCounts counts what runs now by cluster, state and pinning.
func (s *Store) RunningCounts(ctx context.Context) ([]RunningCount, error) {
	defer s.timed("running_counts")()
	rows, err := s.db.QueryContext(ctx, `SELECT cluster, state, pinned, count(*) FROM (SELECT r.cluster, `+judged+` AS state,
		CASE WHEN r.image LIKE '%@%' THEN 1 ELSE 0 END AS pinned FROM running_containers r WHERE r.stopped IS NULL) c
		GROUP BY cluster, state, pinned ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, err
	}
	out := []RunningCount{}
	err = each(rows, func() error {
		var c RunningCount
		err := rows.Scan(&c.Cluster, &c.State, &c.Pinned, &c.Containers)
		out = append(out, c)
		return err
	})
	return out, err
}

// RunningContainers lists the containers running now (within filter),
// without judgements or evidence: what a report of every container reads.
func (s *Store) RunningContainers(ctx context.Context, filter RunningFilter) ([]RunningContainer, error) {
	defer s.timed("running_containers")()
	cond, args := filter.condition()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+runningColumns+` FROM running_containers r WHERE `+cond+`
		ORDER BY r.cluster, r.namespace, r.workload, r.pod, r.container_kind, r.container`), args...)
	if err != nil {
		return nil, err
	}
	out := []RunningContainer{}
	err = each(rows, func() error {
		c, err := scanRunning(rows, nil)
		out = append(out, c)
		return err
	})
	return out, err
}
