package vulndb

import "sync"

// DefaultWarmBudget is what a server keeps warm: 64 MiB of stored
// records, about 150 MiB decoded.
const DefaultWarmBudget = 64 << 20

// warmCache keeps one file's decoded lookups. A nil cache keeps nothing.
type warmCache struct {
	mu       sync.Mutex
	budget   int64
	used     int64
	packages map[[2]string]warmEntry
	ecos     map[string]bool
}

type warmEntry struct {
	records []*Record
	size    int64
}

func newWarmCache(budget int64) *warmCache {
	return &warmCache{budget: budget, packages: map[[2]string]warmEntry{}}
}

func (c *warmCache) lookup(key [2]string) ([]*Record, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.packages[key]
	return e.records, ok
}

// keep remembers a lookup's records, forgetting others (any: the map's
// order is random) to stay within the budget.
func (c *warmCache) keep(key [2]string, records []*Record, size int64) {
	// a package without records costs its key
	size += int64(len(key[0]) + len(key[1]) + 64)
	if c == nil || size > c.budget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.packages[key]; ok {
		return
	}
	for k, e := range c.packages {
		if c.used+size <= c.budget {
			break
		}
		delete(c.packages, k)
		c.used -= e.size
	}
	c.packages[key] = warmEntry{records, size}
	c.used += size
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
