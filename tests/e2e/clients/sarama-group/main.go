// One consumer-group member on Go's sarama (Debian's 1.22.1, GO111MODULE=off
// GOPATH=/usr/share/gocode; ConsumerGroup exists since 1.19) for the group e2e tests.
//
//	sarama-group BOOTSTRAP GROUP TOPIC CLIENT_ID
//
// It consumes TOPIC in GROUP with the range strategy at protocol level 2.1.0 (sarama 1.22.1 then
// sends JoinGroup v1, SyncGroup/Heartbeat/LeaveGroup v0, OffsetCommit v1 and OffsetFetch v1),
// marks each record (MarkMessage, metadata "<CLIENT_ID>") and lets sarama commit the marks every
// 100 ms and when a session ends. It prints one JSON object per line:
//
//	{"event":"assign"|"revoke","delta":[p...],"assignment":[p...],"generation":g,"member":id}
//	{"event":"record","p":p,"o":offset,"v":value}   {"event":"error","error":...}   {"event":"closed"}
//
// and reads commands on stdin: "close" ends the session (a last commit), leaves the group
// (LeaveGroup) and exits.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

var (
	outMu sync.Mutex
	out   = json.NewEncoder(os.Stdout)
)

func emit(fields map[string]interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(fields); err != nil {
		fmt.Fprintln(os.Stderr, "sarama-group:", err)
		os.Exit(1)
	}
}

type handler struct {
	topic    string
	metadata string
}

func (h *handler) partitions(sess sarama.ConsumerGroupSession) []int32 {
	ps := append([]int32{}, sess.Claims()[h.topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// Setup runs when a session starts with its claims: sarama's "assigned" moment.
func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	ps := h.partitions(sess)
	emit(map[string]interface{}{
		"event": "assign", "delta": ps, "assignment": ps,
		"generation": sess.GenerationID(), "member": sess.MemberID(),
	})
	return nil
}

// Cleanup runs when a session ends (rebalance or close), before the last commit: sarama is eager,
// so every claim is given up.
func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	emit(map[string]interface{}{
		"event": "revoke", "delta": h.partitions(sess), "assignment": []int32{},
		"generation": sess.GenerationID(), "member": sess.MemberID(),
	})
	return nil
}

func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		emit(map[string]interface{}{"event": "record", "p": m.Partition, "o": m.Offset, "v": string(m.Value)})
		sess.MarkMessage(m, h.metadata)
	}
	return nil
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: sarama-group BOOTSTRAP GROUP TOPIC CLIENT_ID")
		os.Exit(2)
	}
	bootstrap, group, topic, clientID := os.Args[1], os.Args[2], os.Args[3], os.Args[4]

	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = sarama.V2_1_0_0
	c.Metadata.Retry.Backoff = 50 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	c.Consumer.Group.Rebalance.Strategy = sarama.BalanceStrategyRange
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	c.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond

	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, group, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sarama-group:", err)
		os.Exit(1)
	}
	go func() {
		for err := range cg.Errors() {
			emit(map[string]interface{}{"event": "error", "error": err.Error()})
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			if scanner.Text() == "close" {
				break
			}
		}
		cancel()
	}()

	h := &handler{topic: topic, metadata: clientID}
	// Consume returns at every rebalance; a member rejoins by calling it again.
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil {
			emit(map[string]interface{}{"event": "error", "error": err.Error()})
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if err := cg.Close(); err != nil {
		emit(map[string]interface{}{"event": "error", "error": err.Error()})
	}
	emit(map[string]interface{}{"event": "closed"})
}
