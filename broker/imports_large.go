package broker

// Stream imports of messages over MaxInternalMsg. An import's handler
// takes a message whole, so a larger one (which a client publishes in
// pieces) cannot go through it. Instead, when the publisher's receivers
// are resolved, a stream import's subscription is replaced by the
// importer's own receivers of the mapped subject: its clients here (a
// stream slot each, whose MSG line carries the mapped subject), one member
// of each of its queue groups, and the peers with interest in the
// importing account, to which the message is routed in that account under
// the mapped subject (chunked, as any large routed message). The pieces
// then go to them as they arrive, like the publisher's own receivers'.
// Internal subscriptions of the importer (its JetStream, a further import)
// do not get it: they too take messages whole. Only a client's publish is
// expanded; a server delivery (Server.Send) over MaxInternalMsg does not
// cross an import.

// streamImport is where a stream import sends its messages.
type streamImport struct {
	to *Account
	m  *mapping
}

// addImported adds the importer's receivers of the current message, under
// the import's mapping of its subject, to the targets.
func (c *client) addImported(imp *streamImport) {
	p := &c.pub
	as := imp.m.apply(p.subject)
	r := imp.to.sl.Match(as)
	for _, sub := range r.Psubs {
		if sub.peer != nil {
			c.addRouteIn(sub.peer, "", imp.to, as)
			continue
		}
		if sub.handler == nil && c.eligibleFor(sub, as) && admit(sub) {
			c.addTargetAs(sub, as)
		}
	}
	for _, group := range r.Qsubs {
		if group[0].handler != nil {
			continue
		}
		if sub := c.pickMemberFor(group, as); sub != nil {
			c.addTargetAs(sub, as)
		} else {
			c.pickRemoteIn(group, imp.to, as)
		}
	}
}

// addTargetAs adds a client subscription that gets the message under as.
func (c *client) addTargetAs(sub *Subscription, as []byte) {
	p := &c.pub
	p.targets = append(p.targets, target{sub: sub, headers: sub.client.headers.Load(), as: as})
	if p.reply != nil {
		sub.client.noteReply(p.reply)
	}
}
