package sqlite

// lru is a bounded map of stream heads that forgets the least recently
// used stream first. Only the writer goroutine uses it.
type lru struct {
	capacity int
	m        map[string]*lruNode
	root     lruNode // sentinel: root.next is the most recent, root.prev the least
}

type lruNode struct {
	key        string
	val        streamHead
	prev, next *lruNode
}

func newLRU(capacity int) *lru {
	c := &lru{capacity: capacity}
	c.reset()
	return c
}

func (c *lru) get(key string) (streamHead, bool) {
	n, ok := c.m[key]
	if !ok {
		return streamHead{}, false
	}
	c.unlink(n)
	c.pushFront(n)
	return n.val, true
}

func (c *lru) put(key string, val streamHead) {
	if n, ok := c.m[key]; ok {
		n.val = val
		c.unlink(n)
		c.pushFront(n)
		return
	}
	var n *lruNode
	if len(c.m) >= c.capacity {
		// Reuse the evicted node: no allocation once the cache is full.
		n = c.root.prev
		c.unlink(n)
		delete(c.m, n.key)
	} else {
		n = &lruNode{}
	}
	n.key, n.val = key, val
	c.m[key] = n
	c.pushFront(n)
}

// reset forgets everything.
func (c *lru) reset() {
	c.m = make(map[string]*lruNode)
	c.root.next, c.root.prev = &c.root, &c.root
}

func (c *lru) unlink(n *lruNode) {
	n.prev.next, n.next.prev = n.next, n.prev
}

func (c *lru) pushFront(n *lruNode) {
	n.prev, n.next = &c.root, c.root.next
	c.root.next.prev = n
	c.root.next = n
}
