package vulndb

import "sync"

// DefaultWarmBudget is what a server keeps warm: 64 MiB of stored
// records, about 150 MiB decoded.
const DefaultWarmBudget = 64 << 20

// warmCache keeps one file's decoded answers: lookups by package, records
// by ID, the records each vulnerability name names, and the coverage. A
// nil cache keeps nothing.
type warmCache struct {
	mu       sync.Mutex
	budget   int64
	used     int64
	packages map[[2]string]warmEntry[[]*Record]
	records  map[string]warmEntry[*Record]
	names    map[string]warmEntry[[]string]
	ecos     map[string]bool
}

type warmEntry[T any] struct {
	value T
	size  int64
}

func newWarmCache(budget int64) *warmCache {
	return &warmCache{budget: budget, packages: map[[2]string]warmEntry[[]*Record]{},
		records: map[string]warmEntry[*Record]{}, names: map[string]warmEntry[[]string]{}}
}

// entryCost is what an entry costs beyond what it holds: its key, the
// map's slot.
const entryCost = 64

func (c *warmCache) lookup(key [2]string) ([]*Record, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.packages[key]
	return e.value, ok
}

// keep remembers a lookup's records (size: the bytes they are stored in).
func (c *warmCache) keep(key [2]string, records []*Record, size int64) {
	if c == nil {
		return
	}
	size += int64(len(key[0]) + len(key[1]) + entryCost)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.packages[key]; ok || !c.fit(size) {
		return
	}
	c.packages[key] = warmEntry[[]*Record]{records, size}
	c.used += size
}

// record is a record read by ID.
func (c *warmCache) record(id string) (*Record, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.records[id]
	return e.value, ok
}

func (c *warmCache) keepRecord(r *Record, size int64) {
	if c == nil {
		return
	}
	size += int64(len(r.ID) + entryCost)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.records[r.ID]; ok || !c.fit(size) {
		return
	}
	c.records[r.ID] = warmEntry[*Record]{r, size}
	c.used += size
}

// named is the IDs a vulnerability name names, nil when none.
func (c *warmCache) named(name string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.names[name]
	return e.value, ok
}

func (c *warmCache) keepNamed(name string, ids []string) {
	if c == nil {
		return
	}
	size := int64(len(name) + entryCost)
	for _, id := range ids {
		size += int64(len(id) + 16)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.names[name]; ok || !c.fit(size) {
		return
	}
	c.names[name] = warmEntry[[]string]{ids, size}
	c.used += size
}

// fit makes room for size bytes, forgetting entries (any: maps iterate in
// random order) to stay within the budget; false when size alone is over
// it. c.mu is held.
func (c *warmCache) fit(size int64) bool {
	if size > c.budget {
		return false
	}
	for k, e := range c.packages {
		if c.used+size <= c.budget {
			return true
		}
		delete(c.packages, k)
		c.used -= e.size
	}
	for k, e := range c.records {
		if c.used+size <= c.budget {
			return true
		}
		delete(c.records, k)
		c.used -= e.size
	}
	for k, e := range c.names {
		if c.used+size <= c.budget {
			return true
		}
		delete(c.names, k)
		c.used -= e.size
	}
	return true
}

func (c *warmCache) coverage() map[string]bool {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ecos
}

func (c *warmCache) keepCoverage(ecos map[string]bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ecos = ecos
}
