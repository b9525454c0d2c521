// Command sarama drives Shopify's sarama, with its default configuration, against the capture's
// fake broker. Run by capture.ts:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run scripts/golden/sarama/main.go <broker> produce <topic> '<records json>'
//	GO111MODULE=off GOPATH=/usr/share/gocode go run scripts/golden/sarama/main.go <broker> consume <topic> <count>
//
// produce sends each record with a SyncProducer (which needs Producer.Return.Successes, the only
// setting changed). consume reads every partition from the oldest offset until <count> messages.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

type givenRecord struct {
	Key     string      `json:"key"`
	Value   string      `json:"value"`
	Headers [][2]string `json:"headers"`
}

const timeout = 30 * time.Second

func produce(broker, topic string, records []givenRecord) error {
	config := sarama.NewConfig()
	config.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer([]string{broker}, config)
	if err != nil {
		return err
	}
	defer p.Close()
	for _, r := range records {
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
		}
		partition, offset, err := p.SendMessage(m)
		if err != nil {
			return err
		}
		fmt.Printf("delivered %s[%d]@%d\n", topic, partition, offset)
	}
	return nil
}

func consume(broker, topic string, count int) error {
	c, err := sarama.NewConsumer([]string{broker}, sarama.NewConfig())
	if err != nil {
		return err
	}
	defer c.Close()
	partitions, err := c.Partitions(topic)
	if err != nil {
		return err
	}
	messages := make(chan *sarama.ConsumerMessage)
	for _, p := range partitions {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				messages <- m
			}
		}()
	}
	deadline := time.After(timeout)
	for seen := 0; seen < count; seen++ {
		select {
		case m := <-messages:
			fmt.Printf("consumed %d@%d: %s=%s\n", m.Partition, m.Offset, m.Key, m.Value)
		case <-deadline:
			return fmt.Errorf("consumed %d of %d", seen, count)
		}
	}
	return nil
}

func main() {
	broker, mode := os.Args[1], os.Args[2]
	var err error
	switch mode {
	case "produce":
		var records []givenRecord
		if err = json.Unmarshal([]byte(os.Args[4]), &records); err == nil {
			err = produce(broker, os.Args[3], records)
		}
	case "consume":
		var count int
		if count, err = strconv.Atoi(os.Args[4]); err == nil {
			err = consume(broker, os.Args[3], count)
		}
	default:
		err = fmt.Errorf("unknown mode %s", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
