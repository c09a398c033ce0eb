// Command seeddemo is the seed system's JetStream demo, unchanged in
// spirit: it creates a stream, publishes to it, then subscribes three times
// with nats.DeliverAll(), nats.DeliverLast() and nats.DeliverNew() and
// prints what each subscription receives. Run it against barge (or
// nats-server) with
//
//	go run ./examples/seeddemo -s nats://127.0.0.1:4222
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	url := flag.String("s", nats.DefaultURL, "server URL")
	flag.Parse()
	if err := run(*url); err != nil {
		fmt.Fprintln(os.Stderr, "seeddemo:", err)
		os.Exit(1)
	}
}

func run(url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	_ = js.DeleteStream("DEMO")
	if _, err := js.AddStream(&nats.StreamConfig{Name: "DEMO", Subjects: []string{"demo.>"}}); err != nil {
		return fmt.Errorf("add stream: %w", err)
	}
	for i := 1; i <= 3; i++ {
		ack, err := js.Publish("demo.msg", []byte(fmt.Sprintf("message %d", i)))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		fmt.Printf("published %q as seq %d\n", fmt.Sprintf("message %d", i), ack.Sequence)
	}
	for _, c := range []struct {
		name string
		opt  nats.SubOpt
		want int
	}{
		{"DeliverAll", nats.DeliverAll(), 3},
		{"DeliverLast", nats.DeliverLast(), 1},
		{"DeliverNew", nats.DeliverNew(), 1},
	} {
		sub, err := js.SubscribeSync("demo.msg", c.opt)
		if err != nil {
			return fmt.Errorf("%s subscribe: %w", c.name, err)
		}
		if c.name == "DeliverNew" {
			if _, err := js.Publish("demo.msg", []byte("message 4 (after subscribing)")); err != nil {
				return err
			}
		}
		fmt.Printf("%s receives:\n", c.name)
		for i := 0; i < c.want; i++ {
			m, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				return fmt.Errorf("%s next: %w", c.name, err)
			}
			meta, _ := m.Metadata()
			seq := uint64(0)
			if meta != nil {
				seq = meta.Sequence.Stream
			}
			fmt.Printf("  seq %d: %s\n", seq, m.Data)
			_ = m.Ack()
		}
		_ = sub.Unsubscribe()
	}
	return js.DeleteStream("DEMO")
}
