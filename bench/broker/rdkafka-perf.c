/*
 * rdkafka-perf — the load generator of bench/broker, in C on librdkafka, so that the client spends
 * as little CPU per record as a Kafka client can (a JavaScript client would spend more than the
 * broker). Modelled on librdkafka's own examples/rdkafka_performance.c, cut down to the three
 * things the benchmark needs:
 *
 *   produce  N records of S bytes as fast as the producer's queue allows (acks, codec chosen),
 *            handed over 1000 at a time (rd_kafka_produce_batch); timed from the first record
 *            queued until rd_kafka_flush() has seen every record acknowledged.
 *   consume  N records from the beginning of partition 0 (the legacy per-partition consumer: no
 *            group coordinator involved); timed from the first record received to the Nth.
 *   latency  records at a fixed rate from one thread, consumed by another thread of the same
 *            process; each payload carries the CLOCK_MONOTONIC time at which it was *scheduled*
 *            to be sent, so a stall anywhere (client or broker) counts against the latency
 *            instead of silently lowering the offered rate (no coordinated omission).
 *            With -A, produce -> acknowledgement instead: no consumer, the latency is taken in
 *            the delivery report, served by a thread of its own that only polls the producer.
 *
 * -k N (produce) gives the records keys, cycling over N of them ("key-00000000" ...), for
 * compacted topics, which refuse keyless records (bench/log/cleaner-broker.sh).
 *
 * Every mode prints one line of key=value pairs on stdout (for run.sh) and nothing else there;
 * errors and librdkafka logs go to stderr. Built by run.sh:
 *   gcc -O2 -o rdkafka-perf rdkafka-perf.c -lrdkafka -lpthread -lm
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Distinct payloads cycled through, so lz4 sees text-like data rather than one repeated record. */
#define PAYLOAD_POOL 1024
/* Latency payload header: magic, scheduled send time (ns), sequence number. */
#define LAT_MAGIC 0x53414d5341504552ULL /* "SAMSAPER" */
#define LAT_HEADER_BYTES 24
#define MAX_CONF 64

static const char *brokers = "127.0.0.1:9092";
static const char *topic = "bench";
static const char *acks = "1";
static const char *codec = "none";
static long long count = 1000000;
static int size = 100;
static double max_seconds = 60.0;
static double rate = 5000.0;
static double warmup_seconds = 1.0;
static const char *samples_file = NULL;
static long long keys = 0;   /* -k: records keyed over this many keys; 0 = no keys */
static int ack_latency = 0;  /* -A: latency mode measures produce -> ack, not produce -> consume */
#define KEY_BYTES 12         /* "key-%08lld" */
#define MAX_KEYS 100000000LL /* what 8 digits hold */
static const char *conf_keys[MAX_CONF];
static const char *conf_values[MAX_CONF];
static int conf_n = 0;
static volatile sig_atomic_t interrupted = 0;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "rdkafka-perf: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* User + system CPU seconds of this process: shows whether the client could have been the limit. */
static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) die("%s=%s: %s", key, value, err);
}

static rd_kafka_conf_t *base_conf(void) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers);
  set(conf, "client.id", "rdkafka-perf");
  return conf;
}

/* -X key=value from the command line, applied last so they override the mode's settings. */
static void apply_overrides(rd_kafka_conf_t *conf) {
  for (int i = 0; i < conf_n; i++) set(conf, conf_keys[i], conf_values[i]);
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (!rk) die("rd_kafka_new: %s", err);
  return rk;
}

/* Text-like payloads: words from a small vocabulary, as log lines or JSON would be. */
static char *make_payloads(int bytes) {
  static const char *words[] = {"kafka", "samsa", "record", "batch", "offset", "partition", "topic", "broker",
                                "leader", "epoch", "fetch", "produce", "commit", "segment", "index", "log",
                                "user", "order", "status", "ok", "error", "id", "value", "2024"};
  const int nwords = (int)(sizeof(words) / sizeof(words[0]));
  char *pool = malloc((size_t)bytes * PAYLOAD_POOL);
  if (!pool) die("out of memory");
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int p = 0; p < PAYLOAD_POOL; p++) {
    char *out = pool + (size_t)p * bytes;
    int n = 0;
    while (n < bytes) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const char *w = words[x % nwords];
      for (const char *c = w; *c && n < bytes; c++) out[n++] = *c;
      if (n < bytes) out[n++] = (x >> 32) % 3 == 0 ? ',' : ' ';
    }
  }
  return pool;
}

/* ---------------------------------------------------------------------------------------------- */

struct produce_state {
  long long delivered;
  long long failed;
  char first_error[256];
};

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct produce_state *st = opaque;
  if (m->err) {
    if (st->failed++ == 0) snprintf(st->first_error, sizeof(st->first_error), "%s", rd_kafka_err2str(m->err));
  } else {
    st->delivered++;
  }
}

static rd_kafka_conf_t *producer_conf(struct produce_state *st) {
  rd_kafka_conf_t *conf = base_conf();
  set(conf, "acks", acks);
  set(conf, "compression.codec", codec);
  /* A queue deep enough that produce() never waits on it for long; batching as librdkafka's
   * defaults (linger.ms=5, batch.num.messages=10000, batch.size=1000000). */
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "2097151");
  rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
  rd_kafka_conf_set_opaque(conf, st);
  return conf;
}

/* One record produced and flushed first: creates the topic and fetches metadata outside the clock. */
static void produce_one_and_flush(rd_kafka_t *rk, rd_kafka_topic_t *rkt, struct produce_state *st) {
  char one = 'w';
  /* A compacted topic refuses keyless records: with -k the first record has a key as well. */
  static const char warm_key[] = "key-warm-up";
  if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, &one, 1, keys ? warm_key : NULL, keys ? sizeof(warm_key) - 1 : 0,
                       NULL) != 0)
    die("produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
  if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || st->failed)
    die("warm-up record not delivered: %s", st->failed ? st->first_error : "timeout");
  st->delivered = 0;
}

static int run_produce(void) {
  struct produce_state st = {0};
  rd_kafka_conf_t *conf = producer_conf(&st);
  set(conf, "delivery.report.only.error", "true");
  apply_overrides(conf);
  rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, conf);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  char *pool = make_payloads(size);
  /* -k: every key written out once, "key-%08lld", so a record's key is a pointer into this. */
  char *key_pool = NULL;
  if (keys > 0) {
    key_pool = malloc((size_t)keys * (KEY_BYTES + 1));
    if (!key_pool) die("out of memory");
    for (long long k = 0; k < keys; k++)
      snprintf(key_pool + k * (KEY_BYTES + 1), KEY_BYTES + 1, "key-%08lld", k % MAX_KEYS);
  }
  produce_one_and_flush(rk, rkt, &st);

  const double cpu0 = cpu_s();
  const double t0 = now_s();
  const double deadline = t0 + max_seconds;
  long long sent = 0;
  /* rd_kafka_produce_batch: one queue lock per 1000 records instead of per record. */
  enum { BATCH = 1000 };
  static rd_kafka_message_t msgs[BATCH];
  while (sent < count && !interrupted) {
    int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
    for (int i = 0; i < n; i++) {
      msgs[i].payload = pool + (size_t)((sent + i) % PAYLOAD_POOL) * size;
      msgs[i].len = (size_t)size;
      msgs[i].key = key_pool ? key_pool + ((sent + i) % keys) * (KEY_BYTES + 1) : NULL;
      msgs[i].key_len = key_pool ? KEY_BYTES : 0;
      msgs[i]._private = NULL;
      msgs[i].err = 0;
    }
    const int queued = rd_kafka_produce_batch(rkt, 0, RD_KAFKA_MSG_F_COPY, msgs, n);
    sent += queued;
    rd_kafka_poll(rk, queued < n ? 1 : 0);
    if (now_s() > deadline) break;
  }
  /* Done = the queue is empty: every record acknowledged, or reported failed (delivery reports
   * are only for failures, delivery.report.only.error above: a report per record would be one
   * more queue operation per record on the client). */
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, 30000 + (int)(max_seconds * 1000));
  const double secs = now_s() - t0;
  const double cpu = cpu_s() - cpu0;
  st.delivered = flushed == RD_KAFKA_RESP_ERR_NO_ERROR ? sent - st.failed : 0;

  printf("mode=produce topic=%s size=%d acks=%s codec=%s sent=%lld delivered=%lld failed=%lld secs=%.3f "
         "msgs_per_s=%.0f mb_per_s=%.2f client_cpu_s=%.2f process_cpu_s=%.2f\n",
         topic, size, acks, codec, sent, st.delivered, st.failed, secs, st.delivered / secs,
         st.delivered * (double)size / secs / 1e6, cpu, cpu_s());
  if (st.failed) fprintf(stderr, "rdkafka-perf: %lld deliveries failed, first: %s\n", st.failed, st.first_error);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  free(pool);
  free(key_pool);
  return st.failed || st.delivered < count ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------------- */

struct consume_state {
  long long received;
  long long bytes;
  long long errors;
  double first_s;
  double last_s;
};

static void consume_cb(rd_kafka_message_t *m, void *opaque) {
  struct consume_state *st = opaque;
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && st->errors++ == 0)
      fprintf(stderr, "rdkafka-perf: consume error: %s\n", rd_kafka_message_errstr(m));
    return;
  }
  if (st->received == 0) st->first_s = now_s();
  st->received++;
  st->bytes += (long long)m->len;
  st->last_s = now_s();
}

static rd_kafka_conf_t *consumer_conf(void) {
  /* No group.id: the legacy per-partition consumer (as kcat -C without -G) needs no coordinator,
   * and offsets are neither fetched nor committed. */
  return base_conf();
}

static int run_consume(void) {
  rd_kafka_conf_t *conf = consumer_conf();
  /* Keep a large prefetch queue so the fetcher is never waiting on the application. */
  set(conf, "queued.min.messages", "1000000");
  set(conf, "queued.max.messages.kbytes", "1048576");
  apply_overrides(conf);
  rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, conf);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  struct consume_state st = {0};
  const double cpu0 = cpu_s();
  const double start = now_s();
  if (rd_kafka_consume_start(rkt, 0, RD_KAFKA_OFFSET_BEGINNING) == -1)
    die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
  while (st.received < count && !interrupted && now_s() - start < max_seconds)
    rd_kafka_consume_callback(rkt, 0, 100, consume_cb, &st);
  const double cpu = cpu_s() - cpu0;
  const double secs = st.last_s - st.first_s;
  printf("mode=consume topic=%s received=%lld bytes=%lld errors=%lld secs=%.3f msgs_per_s=%.0f mb_per_s=%.2f "
         "client_cpu_s=%.2f process_cpu_s=%.2f first_record_after_s=%.3f\n",
         topic, st.received, st.bytes, st.errors, secs, secs > 0 ? st.received / secs : 0.0,
         secs > 0 ? st.bytes / secs / 1e6 : 0.0, cpu, cpu_s(), st.first_s > 0 ? st.first_s - start : -1.0);
  rd_kafka_consume_stop(rkt, 0);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return st.received < count || st.errors ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------------- */

struct latency_state {
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  volatile int stop;
  int64_t measure_from_seq; /* records with a lower sequence number are warm-up */
  int64_t *samples_ns;
  int64_t *sent_ns; /* CLOCK_MONOTONIC send schedule of each sample, for -o */
  long long capacity;
  long long n;
  long long errors;
};

static void latency_cb(rd_kafka_message_t *m, void *opaque) {
  struct latency_state *st = opaque;
  const int64_t arrived = now_ns();
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && st->errors++ == 0)
      fprintf(stderr, "rdkafka-perf: consume error: %s\n", rd_kafka_message_errstr(m));
    return;
  }
  if (m->len < LAT_HEADER_BYTES) return; /* the topic-creating record */
  uint64_t magic;
  int64_t sent, seq;
  memcpy(&magic, m->payload, 8);
  memcpy(&sent, (char *)m->payload + 8, 8);
  memcpy(&seq, (char *)m->payload + 16, 8);
  if (magic != LAT_MAGIC || seq < st->measure_from_seq) return;
  if (st->n < st->capacity) {
    st->sent_ns[st->n] = sent;
    st->samples_ns[st->n++] = arrived - sent;
  }
}

/* -A: the producer's delivery reports; produce_state first, so produce_one_and_flush can use it. */
struct ack_latency_state {
  struct produce_state pst;
  struct latency_state *st;
};

static void ack_latency_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct ack_latency_state *a = opaque;
  const int64_t acked = now_ns();
  if (m->err) {
    if (a->pst.failed++ == 0) snprintf(a->pst.first_error, sizeof(a->pst.first_error), "%s", rd_kafka_err2str(m->err));
    return;
  }
  a->pst.delivered++;
  if (m->len < LAT_HEADER_BYTES) return; /* the topic-creating record */
  uint64_t magic;
  int64_t sent, seq;
  memcpy(&magic, m->payload, 8);
  memcpy(&sent, (char *)m->payload + 8, 8);
  memcpy(&seq, (char *)m->payload + 16, 8);
  struct latency_state *st = a->st;
  if (magic != LAT_MAGIC || seq < st->measure_from_seq) return;
  if (st->n < st->capacity) {
    st->sent_ns[st->n] = sent;
    st->samples_ns[st->n++] = acked - sent;
  }
}

/* -A: serves the delivery reports as soon as they arrive, instead of between the paced sends. */
static void *ack_poller(void *arg) {
  struct latency_state *st = arg;
  while (!st->stop) rd_kafka_poll(st->rk, 50);
  return NULL;
}

static void *latency_consumer(void *arg) {
  struct latency_state *st = arg;
  while (!st->stop) rd_kafka_consume_callback(st->rkt, 0, 50, latency_cb, st);
  return NULL;
}

static int cmp_i64(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_ms(const int64_t *sorted, long long n, double p) {
  if (n == 0) return -1;
  long long i = (long long)(p / 100.0 * (double)n + 0.5) - 1;
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return sorted[i] / 1e6;
}

static int run_latency(void) {
  if (size < LAT_HEADER_BYTES) die("latency mode needs -s >= %d", LAT_HEADER_BYTES);
  struct latency_state st = {0};
  /* Without -A only its produce_state is used, by dr_msg_cb (failures). */
  struct ack_latency_state ack = {.st = &st};
  rd_kafka_conf_t *pconf = producer_conf(&ack.pst);
  if (ack_latency) {
    rd_kafka_conf_set_dr_msg_cb(pconf, ack_latency_dr_cb);
    rd_kafka_conf_set_opaque(pconf, &ack);
  }
  /* Latency, not throughput: send each record at once instead of lingering to fill a batch. */
  set(pconf, "linger.ms", "0");
  apply_overrides(pconf);
  rd_kafka_t *prk = new_client(RD_KAFKA_PRODUCER, pconf);
  rd_kafka_topic_t *prkt = rd_kafka_topic_new(prk, topic, NULL);
  produce_one_and_flush(prk, prkt, &ack.pst);

  if (!ack_latency) {
    rd_kafka_conf_t *cconf = consumer_conf();
    apply_overrides(cconf);
    st.rk = new_client(RD_KAFKA_CONSUMER, cconf);
    st.rkt = rd_kafka_topic_new(st.rk, topic, NULL);
  } else {
    st.rk = prk; /* polled by ack_poller */
  }
  const long long warmup = (long long)(rate * warmup_seconds);
  const long long total = warmup + (long long)(rate * max_seconds);
  st.measure_from_seq = warmup;
  st.capacity = total;
  st.samples_ns = malloc(sizeof(int64_t) * (size_t)total);
  st.sent_ns = malloc(sizeof(int64_t) * (size_t)total);
  if (!st.samples_ns || !st.sent_ns) die("out of memory");
  if (!ack_latency && rd_kafka_consume_start(st.rkt, 0, RD_KAFKA_OFFSET_BEGINNING) == -1)
    die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
  pthread_t consumer;
  pthread_create(&consumer, NULL, ack_latency ? ack_poller : latency_consumer, &st);

  char *payload = make_payloads(size); /* the first pool entry, header overwritten per record */
  const double cpu0 = cpu_s();
  const int64_t interval_ns = (int64_t)(1e9 / rate);
  const int64_t t0 = now_ns() + 100000000LL; /* consumer has 100 ms to start fetching */
  long long late = 0;
  long long sent = 0;
  for (long long seq = 0; seq < total && !interrupted; seq++, sent++) {
    const int64_t scheduled = t0 + seq * interval_ns;
    struct timespec ts = {.tv_sec = scheduled / 1000000000LL, .tv_nsec = scheduled % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    if (now_ns() - scheduled > 1000000LL) late++;
    const uint64_t magic = LAT_MAGIC;
    memcpy(payload, &magic, 8);
    memcpy(payload + 8, &scheduled, 8);
    memcpy(payload + 16, &seq, 8);
    while (rd_kafka_produce(prkt, 0, RD_KAFKA_MSG_F_COPY, payload, (size_t)size, NULL, 0, NULL) != 0) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
      if (ack_latency) usleep(1000); /* the poller thread alone serves delivery reports */
      else rd_kafka_poll(prk, 1);
    }
    if (!ack_latency) rd_kafka_poll(prk, 0);
  }
  /* -A is meant to be stopped by a signal: expected = what was sent after the warm-up. */
  const long long expected = ack_latency ? (sent > warmup ? sent - warmup : 0) : total - warmup;
  if (ack_latency) { /* the poller stops first: flush() serves the last reports on this thread */
    st.stop = 1;
    pthread_join(consumer, NULL);
  }
  rd_kafka_flush(prk, 10000);
  const double wait_until = now_s() + 5;
  while (!ack_latency && st.n < expected && now_s() < wait_until) usleep(1000);
  st.stop = 1;
  if (!ack_latency) pthread_join(consumer, NULL);

  const double cpu = cpu_s() - cpu0;
  if (samples_file) { /* arrival order, for looking at when the slow ones happened */
    FILE *f = fopen(samples_file, "w");
    if (!f) die("%s: %s", samples_file, strerror(errno));
    for (long long i = 0; i < st.n; i++) fprintf(f, "%.3f %.3f\n", st.sent_ns[i] / 1e6, st.samples_ns[i] / 1e6);
    fclose(f);
  }
  qsort(st.samples_ns, (size_t)st.n, sizeof(int64_t), cmp_i64);
  double sum = 0;
  for (long long i = 0; i < st.n; i++) sum += st.samples_ns[i] / 1e6;
  printf("mode=latency topic=%s size=%d acks=%s rate=%.0f secs=%.1f samples=%lld expected=%lld failed=%lld "
         "late_sends=%lld client_cpu_s=%.2f process_cpu_s=%.2f mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f%s\n",
         topic, size, acks, rate, max_seconds, st.n, expected, ack.pst.failed, late, cpu, cpu_s(), st.n ? sum / st.n : -1.0,
         pct_ms(st.samples_ns, st.n, 50), pct_ms(st.samples_ns, st.n, 99), pct_ms(st.samples_ns, st.n, 99.9),
         st.n ? st.samples_ns[st.n - 1] / 1e6 : -1.0, ack_latency ? " measure=ack" : "");
  if (!ack_latency) {
    rd_kafka_consume_stop(st.rkt, 0);
    rd_kafka_topic_destroy(st.rkt);
    rd_kafka_destroy(st.rk);
  }
  rd_kafka_topic_destroy(prkt);
  rd_kafka_destroy(prk);
  free(payload);
  free(st.samples_ns);
  free(st.sent_ns);
  return st.n < expected || ack.pst.failed ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: rdkafka-perf produce|consume|latency [options]\n"
          "  -b host:port   bootstrap server (127.0.0.1:9092)\n"
          "  -t topic       topic; partition 0 is used (bench)\n"
          "  -n count       records to produce or consume (1000000)\n"
          "  -s bytes       record value size (100)\n"
          "  -a acks        0, 1 or all (1)\n"
          "  -z codec       none, gzip, snappy, lz4, zstd (none)\n"
          "  -d seconds     produce/consume: give up after; latency: measured duration (60)\n"
          "  -r rate        latency: records per second (5000)\n"
          "  -w seconds     latency: warm-up not measured (1)\n"
          "  -o file        latency: write each record's send time and latency (ms, CLOCK_MONOTONIC)\n"
          "  -A             latency: produce -> acknowledgement (delivery report), no consumer\n"
          "  -k keys        produce: keyed records, cycling over this many keys (none)\n"
          "  -X key=value   any librdkafka property, applied last\n");
  exit(2);
}

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *mode = argv[1];
  int opt;
  optind = 2;
  while ((opt = getopt(argc, argv, "b:t:n:s:a:z:d:r:w:o:k:AX:")) != -1) {
    switch (opt) {
      case 'b': brokers = optarg; break;
      case 't': topic = optarg; break;
      case 'n': count = atoll(optarg); break;
      case 's': size = atoi(optarg); break;
      case 'a': acks = optarg; break;
      case 'z': codec = optarg; break;
      case 'd': max_seconds = atof(optarg); break;
      case 'r': rate = atof(optarg); break;
      case 'w': warmup_seconds = atof(optarg); break;
      case 'o': samples_file = optarg; break;
      case 'k': keys = atoll(optarg); break;
      case 'A': ack_latency = 1; break;
      case 'X': {
        char *eq = strchr(optarg, '=');
        if (!eq || conf_n == MAX_CONF) usage();
        *eq = '\0';
        conf_keys[conf_n] = optarg;
        conf_values[conf_n++] = eq + 1;
        break;
      }
      default: usage();
    }
  }
  if (size <= 0 || count <= 0 || rate <= 0 || max_seconds <= 0 || keys < 0 || keys > MAX_KEYS) usage();
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  if (strcmp(mode, "produce") == 0) return run_produce();
  if (strcmp(mode, "consume") == 0) return run_consume();
  if (strcmp(mode, "latency") == 0) return run_latency();
  usage();
  return 2;
}
