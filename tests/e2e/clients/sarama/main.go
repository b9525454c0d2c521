// Drives Go's sarama (Debian's 1.22.1, GO111MODULE=off GOPATH=/usr/share/gocode) against a Samsa
// broker for the e2e tests. sarama picks request versions from Config.Version: its default
// (0.8.2) sends Produce v0 with magic-0 message sets and Fetch v0, so the broker must up-convert
// what it stores and down-convert what it serves.
//
//	sarama produce BOOTSTRAP TOPIC KAFKA_VERSION CODEC COUNT   prints {"offsets":[...]}
//	sarama consume BOOTSTRAP TOPIC KAFKA_VERSION COUNT         prints one {"offset":...} per message
//	sarama offsets BOOTSTRAP TOPIC KAFKA_VERSION GROUP         OffsetCommit v0-4 then OffsetFetch v0-5,
//	                                                           each read back; prints one line per request
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

func config(version string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "samsa-e2e-sarama"
	if version != "default" {
		v, err := sarama.ParseKafkaVersion(version)
		must(err)
		c.Version = v
	}
	c.Metadata.Retry.Backoff = 50 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	return c
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "sarama:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: sarama produce|consume BOOTSTRAP TOPIC VERSION ...")
		os.Exit(2)
	}
	mode, bootstrap, topic, version := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	out := json.NewEncoder(os.Stdout)
	switch mode {
	case "produce":
		codec, count := os.Args[5], atoi(os.Args[6])
		c := config(version)
		switch codec {
		case "gzip":
			c.Producer.Compression = sarama.CompressionGZIP
		case "snappy":
			c.Producer.Compression = sarama.CompressionSnappy
		case "lz4":
			c.Producer.Compression = sarama.CompressionLZ4
		case "zstd":
			c.Producer.Compression = sarama.CompressionZSTD
		}
		// Batch everything sent before the flush into one message set, so compression wraps several.
		c.Producer.Flush.Messages = count
		c.Producer.Flush.Frequency = 20 * time.Millisecond
		producer, err := sarama.NewSyncProducer([]string{bootstrap}, c)
		must(err)
		msgs := make([]*sarama.ProducerMessage, count)
		for i := range msgs {
			msgs[i] = &sarama.ProducerMessage{
				Topic:     topic,
				Partition: 0,
				Key:       sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
				Value:     sarama.StringEncoder(fmt.Sprintf("sarama %s %s %d", version, codec, i)),
			}
		}
		if err := producer.SendMessages(msgs); err != nil {
			if errs, ok := err.(sarama.ProducerErrors); ok && len(errs) > 0 {
				err = fmt.Errorf("%v: %v", err, errs[0].Err)
			}
			must(err)
		}
		offsets := make([]int64, count)
		for i, m := range msgs {
			offsets[i] = m.Offset
		}
		must(out.Encode(map[string]interface{}{"offsets": offsets}))
		must(producer.Close())
	case "consume":
		count := atoi(os.Args[5])
		client, err := sarama.NewClient([]string{bootstrap}, config(version))
		must(err)
		newest, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
		must(err)
		oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
		must(err)
		must(out.Encode(map[string]interface{}{"oldest": oldest, "newest": newest}))
		consumer, err := sarama.NewConsumerFromClient(client)
		must(err)
		pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
		must(err)
		deadline := time.After(20 * time.Second)
		for got := 0; got < count; {
			select {
			case m := <-pc.Messages():
				headers := [][]string{}
				for _, h := range m.Headers {
					headers = append(headers, []string{string(h.Key), string(h.Value)})
				}
				must(out.Encode(map[string]interface{}{
					"offset": m.Offset, "key": string(m.Key), "value": string(m.Value), "headers": headers,
					"timestamp": m.Timestamp.UnixNano() / int64(time.Millisecond),
				}))
				got++
			case err := <-pc.Errors():
				must(err)
			case <-deadline:
				must(fmt.Errorf("timed out after %d of %d messages", got, count))
			}
		}
		must(pc.Close())
		must(consumer.Close())
	case "offsets":
		// A simple consumer's commits (no generation, no member), each version read back by every
		// OffsetFetch version sarama implements: requests built by hand, as its offset manager
		// pins OffsetFetch to v1 and OffsetCommit to v1-2.
		group := os.Args[5]
		client, err := sarama.NewClient([]string{bootstrap}, config(version))
		must(err)
		must(client.RefreshMetadata(topic)) // Metadata v5 with a topic: created if missing
		coordinator, err := client.Coordinator(group)
		must(err)
		for commitVersion := int16(0); commitVersion <= 4; commitVersion++ {
			offset, metadata := int64(400+commitVersion), fmt.Sprintf("sarama commit v%d", commitVersion)
			commit := &sarama.OffsetCommitRequest{
				Version: commitVersion, ConsumerGroup: group, ConsumerGroupGeneration: -1, RetentionTime: -1,
			}
			commit.AddBlock(topic, 0, offset, -1, metadata)
			committed, err := coordinator.CommitOffset(commit)
			must(err)
			if kerr := committed.Errors[topic][0]; kerr != sarama.ErrNoError {
				must(fmt.Errorf("OffsetCommit v%d: %v", commitVersion, kerr))
			}
			for fetchVersion := int16(0); fetchVersion <= 5; fetchVersion++ {
				fetch := &sarama.OffsetFetchRequest{Version: fetchVersion, ConsumerGroup: group}
				fetch.AddPartition(topic, 0)
				fetched, err := coordinator.FetchOffset(fetch)
				must(err)
				block := fetched.GetBlock(topic, 0)
				if block == nil || fetched.Err != sarama.ErrNoError || block.Err != sarama.ErrNoError {
					must(fmt.Errorf("OffsetFetch v%d: %+v %+v", fetchVersion, fetched, block))
				}
				must(out.Encode(map[string]interface{}{
					"commit": commitVersion, "fetch": fetchVersion, "offset": block.Offset, "metadata": block.Metadata,
					"leaderEpoch": block.LeaderEpoch,
				}))
				// Commits before v6 carry no leader epoch; v5 answers "none" (-1) for it.
				if block.Offset != offset || block.Metadata != metadata || (fetchVersion >= 5 && block.LeaderEpoch != -1) {
					must(fmt.Errorf("OffsetFetch v%d after OffsetCommit v%d: %d %q, want %d %q",
						fetchVersion, commitVersion, block.Offset, block.Metadata, offset, metadata))
				}
			}
		}
		must(client.Close())
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	must(err)
	return n
}
