package consumer

// dropGoneLocked removes the waiting pull requests whose reply inbox has
// no subscriber any more (the requester gave up, or its connection
// closed): they could only time out, yet they hold max_waiting slots.
// nats-server drops them the same way before it refuses a request with
// 409 Exceeded MaxWaiting. Interest is what delivery checks too
// (Server.SendIn): a local or a route subscription.
func (c *consumer) dropGoneLocked() {
	sl := c.set.env.Server.Sublist()
	keep := c.mu.waiting[:0]
	for _, wr := range c.mu.waiting {
		if sl.MatchOnce(wr.reply).Empty() {
			continue
		}
		keep = append(keep, wr)
	}
	clear(c.mu.waiting[len(keep):])
	c.mu.waiting = keep
}
