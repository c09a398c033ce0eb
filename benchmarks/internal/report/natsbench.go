package report

// describeNatsBench says in one line what each nb-* workload (the real
// `nats bench`, natscli, run against each server) measures; "" for others.
func describeNatsBench(w string) string {
	switch w {
	case "nb-core":
		return "`nats bench sub` and `nats bench pub` (natscli, separate processes) on one subject: natscli's publisher sends as fast as it can, no flow control; MiB/s and msgs/s are the subscriber's (delivered payload), natscli's own timing."
	case "nb-js-pub":
		return "`nats bench js pub sync` (natscli): one publish and its PubAck at a time into natscli's file-storage R1 stream, purged first; the durable, acked comparison."
	case "nb-js-pubasync":
		return "`nats bench js pub async --batch B` (natscli): batches of B async publishes, each batch's PubAcks awaited, into natscli's file-storage R1 stream, purged first."
	case "nb-js-fetch":
		return "`nats bench js fetch --batch B` (natscli): a fresh durable pull consumer (explicit ack) reading natscli's pre-filled file-storage R1 stream with Fetch batches of B."
	}
	return ""
}
