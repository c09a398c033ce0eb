package broker

// The Server's routing hooks for server-side components (internal.go),
// bound to one account: JetStream runs one engine per account with
// JetStream, each given its Account as its server.

// Server returns the server the account belongs to.
func (a *Account) Server() *Server { return a.srv }

// ID returns the server's id.
func (a *Account) ID() string { return a.srv.id }

// SubscribeInternal is Server.SubscribeInternal in this account.
func (a *Account) SubscribeInternal(subj, queue string, h InternalHandler) (*Subscription, error) {
	return a.srv.SubscribeInternalIn(a, subj, queue, false, h)
}

// SubscribeInternalRouted is Server.SubscribeInternalRouted in this
// account.
func (a *Account) SubscribeInternalRouted(subj string, h InternalHandler) (*Subscription, error) {
	return a.srv.SubscribeInternalIn(a, subj, "", true, h)
}

// SubscribeInternalOversize is Server.SubscribeInternalOversize in this
// account.
func (a *Account) SubscribeInternalOversize(subj string, h InternalHandler) (*Subscription, error) {
	if h == nil {
		return nil, ErrNilHandler
	}
	return a.srv.subscribeInternalSub(a, &Subscription{Subject: subj, handler: h, oversize: true})
}

// UnsubscribeInternal removes a subscription made in this account.
func (a *Account) UnsubscribeInternal(sub *Subscription) error {
	return a.srv.UnsubscribeInternal(sub)
}

// Send is Server.Send in this account.
func (a *Account) Send(d *Delivery) int {
	d.Account = a
	return a.srv.SendIn(nil, d)
}

// SendIn is Server.SendIn in this account.
func (a *Account) SendIn(ob *OutBatch, d *Delivery) int {
	d.Account = a
	return a.srv.SendIn(ob, d)
}

// Deliver is Server.Deliver in this account.
func (a *Account) Deliver(subject, reply, hdr, body []byte) int {
	return a.Send(&Delivery{To: subject, Reply: reply, Hdr: hdr, Body: body})
}

// DeliverIn is Server.DeliverIn in this account.
func (a *Account) DeliverIn(ob *OutBatch, subject, reply, hdr, body []byte) int {
	return a.SendIn(ob, &Delivery{To: subject, Reply: reply, Hdr: hdr, Body: body})
}

// DeliverExtents is Server.DeliverExtents in this account.
func (a *Account) DeliverExtents(subject, reply, hdr, body []byte, ext []Extent, size int64) int {
	return a.Send(&Delivery{To: subject, Reply: reply, Hdr: hdr, Body: body, Ext: ext, Size: size})
}
