package digest

// links are an entry's place in its shard's recency list.
type links[E any] struct{ prev, next *E }

// linked is a pointer to an entry that embeds links.
type linked[E any] interface {
	*E
	ln() *links[E]
}

// recency is an intrusive doubly linked list of a shard's entries, most
// recent first, so that the bounded tables of ReplayCache and Throttle
// evict their oldest entry in constant time. Shards embed it, entries
// embed links.
type recency[E any, P linked[E]] struct {
	head *E // most recent
	tail *E // least recent
}

// unlink takes e out of the list.
func (l *recency[E, P]) unlink(e *E) {
	n := P(e).ln()
	if n.prev != nil {
		P(n.prev).ln().next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		P(n.next).ln().prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

// pushFront puts e, which is in no list, first.
func (l *recency[E, P]) pushFront(e *E) {
	n := P(e).ln()
	n.prev, n.next = nil, l.head
	if l.head != nil {
		P(l.head).ln().prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
}
