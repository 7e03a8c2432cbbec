package store

import ()

// migrations bring a store from version i to i+1. A store records its
// version; one written by a newer dossier is refused, an older one is
// brought forward when opened. {{id}} is the dialect's auto-incrementing
// key. Times are Unix microseconds, so that both backends order and
// compare them alike.
var migrations = []migration{{statements: []string{
	`CREATE TABLE subjects (
		id {{id}},
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		media_type TEXT NOT NULL DEFAULT '',
		platform TEXT NOT NULL DEFAULT '',
		first_seen BIGINT NOT NULL,
		last_recorded BIGINT NOT NULL,
		UNIQUE (repository, digest))`,
	`CREATE INDEX subjects_digest ON subjects (digest)`,
	`CREATE TABLE tag_moves (
		id {{id}},
		repository TEXT NOT NULL,
		tag TEXT NOT NULL,
		digest TEXT NOT NULL,
		observed_at BIGINT NOT NULL,
		source TEXT NOT NULL DEFAULT '')`,
	`CREATE INDEX tag_moves_tag ON tag_moves (repository, tag, observed_at)`,
	`CREATE TABLE components (
		subject_id BIGINT NOT NULL REFERENCES subjects (id),
		purl_base TEXT NOT NULL,
		name TEXT NOT NULL,
		version TEXT NOT NULL,
		type TEXT NOT NULL,
		component TEXT NOT NULL)`,
	`CREATE INDEX components_purl ON components (purl_base, subject_id)`,
	`CREATE INDEX components_name ON components (name, subject_id)`,
	`CREATE INDEX components_subject ON components (subject_id)`,
	`CREATE TABLE findings (
		id {{id}},
		subject_id BIGINT NOT NULL REFERENCES subjects (id),
		advisory TEXT NOT NULL,
		component_key TEXT NOT NULL,
		finding TEXT NOT NULL,
		first_seen BIGINT NOT NULL,
		last_seen BIGINT NOT NULL,
		resolved_at BIGINT,
		database_version BIGINT NOT NULL,
		UNIQUE (subject_id, advisory, component_key))`,
	`CREATE TABLE finding_ids (
		finding_id BIGINT NOT NULL REFERENCES findings (id),
		advisory_id TEXT NOT NULL,
		UNIQUE (finding_id, advisory_id))`,
	`CREATE INDEX finding_ids_id ON finding_ids (advisory_id)`,
	`CREATE TABLE signatures (
		subject_id BIGINT NOT NULL REFERENCES subjects (id),
		predicate_type TEXT NOT NULL,
		stored_at TEXT NOT NULL,
		verified INTEGER NOT NULL,
		key_fingerprint TEXT NOT NULL DEFAULT '',
		identity TEXT NOT NULL DEFAULT '',
		issuer TEXT NOT NULL DEFAULT '',
		signing_time BIGINT,
		-- the verified signing time, else when dossier first recorded it
		signed_at BIGINT NOT NULL,
		evidence TEXT NOT NULL,
		UNIQUE (subject_id, predicate_type, stored_at, key_fingerprint, identity, issuer))`,
	`CREATE INDEX signatures_identity ON signatures (identity, signing_time)`,
	`CREATE INDEX signatures_key ON signatures (key_fingerprint, signing_time)`,
	`CREATE INDEX signatures_signed ON signatures (signed_at)`,
	`CREATE TABLE exceptions (
		namespace TEXT NOT NULL,
		name TEXT NOT NULL,
		digest TEXT NOT NULL,
		expires_at BIGINT NOT NULL,
		exception TEXT NOT NULL,
		UNIQUE (namespace, name))`,
	`CREATE INDEX exceptions_digest ON exceptions (digest)`,
	`CREATE TABLE decisions (
		subject_id BIGINT NOT NULL REFERENCES subjects (id),
		evaluated_at BIGINT NOT NULL,
		allowed INTEGER NOT NULL,
		decision TEXT NOT NULL)`,
	`CREATE INDEX decisions_subject ON decisions (subject_id, evaluated_at)`,
}}, {statements: []string{
	// rescans: each component's advisory-index package, and the advisory
	// fingerprints as of the last rescan
	`ALTER TABLE components ADD COLUMN package_key TEXT NOT NULL DEFAULT ''`,
	`CREATE INDEX components_package ON components (package_key, subject_id)`,
	`CREATE TABLE advisory_state (
		id TEXT PRIMARY KEY,
		fingerprint TEXT NOT NULL,
		packages TEXT NOT NULL)`,
}}, {statements: []string{
	// lean component rows: the purl in a column, and in the document only
	// what no column holds (locations, licences); older rows keep their
	// whole document and still read
	`ALTER TABLE components ADD COLUMN purl TEXT NOT NULL DEFAULT ''`,
}}, {statements: []string{
	// shared findings: a finding document is stored once per content (the
	// same advisory on the same package version is one document however
	// many digests hold it), found by every ID and alias; a digest's
	// finding is a row of numbers pointing to its key (advisory and
	// component) and its current document
	`CREATE TABLE finding_keys (
		id {{id}},
		key TEXT NOT NULL UNIQUE)`,
	`CREATE TABLE finding_documents (
		id {{id}},
		hash TEXT NOT NULL UNIQUE,
		finding TEXT NOT NULL)`,
	// record is 1 when the ID is one of the database records that matched
	// (what a rescan of changed records re-evaluates), 0 for an alias
	`CREATE TABLE finding_document_ids (
		advisory_id TEXT NOT NULL,
		document_id BIGINT NOT NULL REFERENCES finding_documents (id),
		record INTEGER NOT NULL,
		UNIQUE (advisory_id, document_id))`,
	`CREATE TABLE subject_findings (
		subject_id BIGINT NOT NULL REFERENCES subjects (id),
		key_id BIGINT NOT NULL REFERENCES finding_keys (id),
		document_id BIGINT NOT NULL REFERENCES finding_documents (id),
		first_seen BIGINT NOT NULL,
		last_seen BIGINT NOT NULL,
		resolved_at BIGINT,
		database_version BIGINT NOT NULL,
		UNIQUE (subject_id, key_id))`,
	// the open findings of a document, newest digests first
	`CREATE INDEX subject_findings_open ON subject_findings (document_id, subject_id) WHERE resolved_at IS NULL`,
	// component lookups: a name's packages, a package's versions, and the
	// digests holding one, read from the index alone
	`DROP INDEX components_purl`,
	`CREATE INDEX components_purl ON components (purl_base, version, subject_id)`,
	`DROP INDEX components_name`,
	`CREATE INDEX components_name ON components (name, purl_base)`,
}, move: moveFindings}, {statements: []string{
	// where digests were seen deployed (admitted): responders look at
	// these first
	`CREATE TABLE deployments (
		subject_id BIGINT NOT NULL REFERENCES subjects (id),
		namespace TEXT NOT NULL,
		workload TEXT NOT NULL,
		first_seen BIGINT NOT NULL,
		last_seen BIGINT NOT NULL,
		UNIQUE (subject_id, namespace, workload))`,
}}, {statements: []string{
	// admission decisions: one row per image of a reviewed object
	`CREATE TABLE admissions (
		id {{id}},
		at BIGINT NOT NULL,
		subject_id BIGINT REFERENCES subjects (id),
		image TEXT NOT NULL,
		namespace TEXT NOT NULL,
		workload TEXT NOT NULL,
		username TEXT NOT NULL,
		outcome TEXT NOT NULL,
		reason TEXT NOT NULL,
		decision TEXT)`,
	`CREATE INDEX admissions_subject ON admissions (subject_id, at)`,
	`CREATE INDEX admissions_at ON admissions (at)`,
}}, {statements: []string{
	// what a signer signed in a window is asked by signed_at (the verified
	// signing time, else the recording time), not by signing_time alone
	`DROP INDEX signatures_identity`,
	`DROP INDEX signatures_key`,
	`CREATE INDEX signatures_identity ON signatures (identity, signed_at)`,
	`CREATE INDEX signatures_key ON signatures (key_fingerprint, signed_at)`,
}}, {statements: []string{
	// the tags pointing to a digest now, read per hit
	`CREATE INDEX tag_moves_digest ON tag_moves (repository, digest)`,
}}, {statements: []string{
	// a package's digests newest first straight from the index, so that
	// a page stops early
	`DROP INDEX components_purl`,
	`CREATE INDEX components_purl ON components (purl_base, subject_id, version)`,
}}, {statements: []string{
	// an admission's decision is stored once however many reviews repeat
	// it (the Pods of a ReplicaSet, a busy namespace): its document
	// without the evaluation time, which is the admission's
	`CREATE TABLE decision_documents (
		id {{id}},
		hash TEXT NOT NULL UNIQUE,
		decision TEXT NOT NULL)`,
	`ALTER TABLE admissions ADD COLUMN decision_id BIGINT REFERENCES decision_documents (id)`,
}, move: moveAdmissionDecisions}, {statements: []string{
	// the registry's state, shared by replicas sharing the store: access
	// tokens (by the SHA-256 of the secret), the referrers index, tags
	// bound for good (immutable), its audit trail, shared settings
	`CREATE TABLE registry_tokens (
		id {{id}},
		hash TEXT NOT NULL UNIQUE,
		repositories TEXT NOT NULL,
		role TEXT NOT NULL,
		description TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT)`,
	`CREATE TABLE referrers (
		repository TEXT NOT NULL,
		subject TEXT NOT NULL,
		digest TEXT NOT NULL,
		media_type TEXT NOT NULL,
		artifact_type TEXT NOT NULL,
		size BIGINT NOT NULL,
		annotations TEXT,
		UNIQUE (repository, subject, digest))`,
	`CREATE INDEX referrers_digest ON referrers (repository, digest)`,
	`CREATE TABLE tag_claims (
		repository TEXT NOT NULL,
		tag TEXT NOT NULL,
		digest TEXT NOT NULL,
		claimed_at BIGINT NOT NULL,
		UNIQUE (repository, tag))`,
	`CREATE TABLE registry_events (
		id {{id}},
		at BIGINT NOT NULL,
		action TEXT NOT NULL,
		repository TEXT NOT NULL,
		reference TEXT NOT NULL,
		digest TEXT NOT NULL,
		actor TEXT NOT NULL,
		outcome TEXT NOT NULL,
		reason TEXT NOT NULL)`,
	`CREATE INDEX registry_events_at ON registry_events (at)`,
	`CREATE TABLE settings (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL)`,
}}, {statements: []string{
	// the registry's durable work queue: a claimed job is leased, so that
	// one whose worker died is claimed again
	`CREATE TABLE registry_jobs (
		id {{id}},
		kind TEXT NOT NULL,
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		state TEXT NOT NULL,
		attempts INTEGER NOT NULL,
		queued_at BIGINT NOT NULL,
		started_at BIGINT,
		lease_until BIGINT,
		finished_at BIGINT,
		error TEXT NOT NULL DEFAULT '')`,
	`CREATE INDEX registry_jobs_state ON registry_jobs (state, id)`,
	`CREATE INDEX registry_jobs_digest ON registry_jobs (repository, digest)`,
}}, {statements: []string{
	// when a digest was last scanned and with which advisory data, so that
	// a clean scan is told from none
	`ALTER TABLE subjects ADD COLUMN scanned_at BIGINT`,
	`ALTER TABLE subjects ADD COLUMN scan_database_version BIGINT`,
}}, {statements: []string{
	// admission decisions counted per UTC day and outcome as they are
	// recorded, so that the overview reads 150 rows, not a month of
	// decisions; signed is judged when the decision is recorded
	`CREATE TABLE admission_days (
		day BIGINT NOT NULL,
		outcome TEXT NOT NULL,
		decisions BIGINT NOT NULL,
		pinned BIGINT NOT NULL,
		signed BIGINT NOT NULL,
		UNIQUE (day, outcome))`,
}, move: countAdmissionDays}, {statements: []string{
	// where a token came from (a UI session, the environment) and, for a
	// session, the token that logged in: revoking it ends its sessions
	`ALTER TABLE registry_tokens ADD COLUMN origin TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE registry_tokens ADD COLUMN parent_id BIGINT`,
	`CREATE INDEX registry_tokens_parent ON registry_tokens (parent_id)`,
}}, {statements: []string{
	// the admin tokens stored from DOSSIER_ADMIN_TOKEN before tokens had an
	// origin, so that a new value there revokes them too
	`UPDATE registry_tokens SET origin = 'environment'
		WHERE origin = '' AND description = 'from DOSSIER_ADMIN_TOKEN' AND role = 'admin' AND repositories = '**' AND parent_id IS NULL`,
}}, {statements: []string{
	// admission decisions counted per day, repository and outcome, and
	// each decision's repository (the digest's, else the image's as
	// written), so that a reader scoped to some repositories gets totals
	// and lists of those only
	`ALTER TABLE admissions ADD COLUMN repository TEXT NOT NULL DEFAULT ''`,
	`CREATE INDEX admissions_repository ON admissions (repository, at)`,
	`CREATE TABLE admission_repository_days (
		day BIGINT NOT NULL,
		repository TEXT NOT NULL,
		outcome TEXT NOT NULL,
		decisions BIGINT NOT NULL,
		pinned BIGINT NOT NULL,
		signed BIGINT NOT NULL,
		UNIQUE (day, repository, outcome))`,
}, move: countAdmissionRepositoryDays}, {statements: []string{
	// what each referrer's layers declare, so that the registry bounds
	// the bytes attached to one subject (NULL: indexed before, counted
	// again when next needed)
	`ALTER TABLE referrers ADD COLUMN attached_bytes BIGINT`,
	// what the last scan could and could not check (JSON; NULL: not said)
	`ALTER TABLE subjects ADD COLUMN scan_coverage TEXT`,
}}, {statements: []string{
	// the blobs each manifest of a repository names, and whether it is
	// evidence, so that a blob is served only where an image naming it
	// would be
	`CREATE TABLE manifest_blobs (
		id {{id}},
		repository TEXT NOT NULL,
		blob TEXT NOT NULL,
		manifest TEXT NOT NULL,
		evidence INTEGER NOT NULL,
		UNIQUE (repository, blob, manifest))`,
	`CREATE INDEX manifest_blobs_manifest ON manifest_blobs (repository, manifest)`,
}}, {statements: []string{
	// the cluster an admission was decided for (as its webhook is named),
	// so that what runs there is matched with what was admitted there
	`ALTER TABLE admissions ADD COLUMN cluster TEXT NOT NULL DEFAULT ''`,
	`CREATE INDEX admissions_placement ON admissions (cluster, namespace, subject_id)`,
	// the image as written, bounded for the index (imageKey): a Pod may
	// name an image of any length
	`ALTER TABLE admissions ADD COLUMN image_key TEXT NOT NULL DEFAULT ''`,
	`UPDATE admissions SET image_key = image WHERE length(image) <= 256`,
	`CREATE INDEX admissions_image ON admissions (cluster, namespace, image_key)`,
	// what runs: one row per container of a Pod and the digest it runs
	// (repository and digest empty when the cluster does not say), open
	// while it runs; a restart of the same digest is the same row
	`CREATE TABLE running_containers (
		id {{id}},
		cluster TEXT NOT NULL,
		namespace TEXT NOT NULL,
		pod TEXT NOT NULL,
		pod_uid TEXT NOT NULL,
		container TEXT NOT NULL,
		container_kind TEXT NOT NULL,
		workload TEXT NOT NULL,
		node TEXT NOT NULL,
		image TEXT NOT NULL,
		image_key TEXT NOT NULL,
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		digest_source TEXT NOT NULL,
		started BIGINT NOT NULL,
		stopped BIGINT,
		UNIQUE (cluster, pod_uid, container_kind, container, image_key, digest))`,
	`CREATE INDEX running_containers_open ON running_containers (cluster, namespace) WHERE stopped IS NULL`,
	`CREATE INDEX running_containers_digest ON running_containers (digest) WHERE stopped IS NULL`,
	`CREATE INDEX running_containers_pod ON running_containers (cluster, pod_uid)`,
	// the latest background decision about each digest running in a
	// cluster's namespace under an image as written: what runs, judged
	// again on recorded evidence as policies, exceptions and findings change
	`CREATE TABLE running_judgements (
		id {{id}},
		cluster TEXT NOT NULL,
		namespace TEXT NOT NULL,
		image TEXT NOT NULL,
		image_key TEXT NOT NULL,
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		policy_version TEXT NOT NULL,
		evaluated_at BIGINT NOT NULL,
		allowed INTEGER NOT NULL,
		decision_id BIGINT NOT NULL REFERENCES decision_documents (id),
		UNIQUE (cluster, namespace, image_key, digest))`,
	// each watched cluster: when its Pods were last listed in full and
	// when its watch last reported, so that a stale inventory says so
	`CREATE TABLE clusters (
		name TEXT PRIMARY KEY,
		listed_at BIGINT NOT NULL,
		seen_at BIGINT NOT NULL)`,
	// notifications on their way to each endpoint: one row per endpoint and
	// event (an event is queued once), kept until delivered, retried with
	// backoff, leased by the replica delivering it
	`CREATE TABLE outbox (
		id {{id}},
		endpoint TEXT NOT NULL,
		event_id TEXT NOT NULL,
		event_type TEXT NOT NULL,
		event TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		attempts INTEGER NOT NULL,
		next_attempt BIGINT NOT NULL,
		lease_until BIGINT,
		delivered_at BIGINT,
		last_error TEXT NOT NULL DEFAULT '',
		UNIQUE (endpoint, event_id))`,
	`CREATE INDEX outbox_due ON outbox (endpoint, next_attempt) WHERE delivered_at IS NULL`,
}, move: keyLongImages}, {statements: []string{
	// what cataloguing found in one image layer, by the cataloguer's
	// configuration and the layer's diff ID: one row per variant (the
	// answers the layer's cataloguing read from other layers), shared by
	// every image and replica; checksummed, bounded, least recently used
	// evicted first
	`CREATE TABLE layer_analyses (
		config_key TEXT NOT NULL,
		diff_id TEXT NOT NULL,
		variant TEXT NOT NULL,
		entry TEXT NOT NULL,
		checksum TEXT NOT NULL,
		size BIGINT NOT NULL,
		created_at BIGINT NOT NULL,
		used_at BIGINT NOT NULL,
		PRIMARY KEY (config_key, diff_id, variant))`,
	`CREATE INDEX layer_analyses_used ON layer_analyses (used_at)`,
}}, {statements: []string{
	// which cataloguer made a digest's stored SBOM (syft's and dossier's
	// versions and settings), so that an upgrade finds what to catalogue
	// again; NULL for SBOMs stored before it was recorded
	`ALTER TABLE subjects ADD COLUMN catalogued_by TEXT`,
	// jobs over every stored digest (rescan-all, catalogue-all): progress
	// committed with each batch's results, by the process holding the
	// lease; at most one unfinished job of a kind
	`CREATE TABLE maintenance_jobs (
		id {{id}},
		kind TEXT NOT NULL,
		state TEXT NOT NULL,
		scope TEXT NOT NULL,
		total BIGINT NOT NULL,
		done BIGINT NOT NULL,
		failed BIGINT NOT NULL,
		last_subject BIGINT NOT NULL,
		until_subject BIGINT NOT NULL,
		created_at BIGINT NOT NULL,
		started_at BIGINT,
		finished_at BIGINT,
		holder TEXT NOT NULL DEFAULT '',
		lease_until BIGINT,
		error TEXT NOT NULL DEFAULT '')`,
	`CREATE UNIQUE INDEX maintenance_jobs_open ON maintenance_jobs (kind) WHERE state IN ('queued', 'running')`,
	`CREATE TABLE maintenance_job_failures (
		job_id BIGINT NOT NULL REFERENCES maintenance_jobs (id),
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		reason TEXT NOT NULL,
		at BIGINT NOT NULL)`,
	`CREATE INDEX maintenance_job_failures_job ON maintenance_job_failures (job_id)`,
}}}
