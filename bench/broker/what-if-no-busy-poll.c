/*
 * bench/broker/what-if-no-busy-poll.c: experiment, not a fix. An LD_PRELOAD shim for rdkafka-perf
 * that takes librdkafka's idempotent-producer busy loop out of the client, to measure what that
 * loop costs on a small machine.
 *
 * With enable.idempotence=true, librdkafka (2.0.2, and the same code on master) decides in
 * rd_kafka_toppar_producer_serve that a batch is ready and sets the broker thread's next wake-up
 * to "now" before it applies the idempotent cap of 5 requests in flight per partition; with 5 in
 * flight it then sends nothing, and the thread polls its socket with a zero timeout again and
 * again until a response arrives (strace: ~50,000-68,000 `poll(..., 0) = 0` per 2M records
 * against ~250 polls in all without idempotence). Plain producers with
 * max.in.flight.requests.per.connection=5 do not loop: their cap is applied before the wake-up.
 *
 * The shim turns a zero-timeout poll that found nothing into a wait of up to 1 ms on the same
 * descriptors (the socket and librdkafka's wake-up pipe, so a response or a queued op still wakes
 * it at once). librdkafka calls poll through _FORTIFY_SOURCE's __poll_chk, hence both symbols.
 *
 *   gcc -O2 -shared -fPIC -o /tmp/no-busy-poll.so bench/broker/what-if-no-busy-poll.c -ldl
 *   bash bench/broker/idempotence.sh --client-preload /tmp/no-busy-poll.so
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>

static int (*real_poll)(struct pollfd *, nfds_t, int);

int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
  if (!real_poll) real_poll = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
  int r = real_poll(fds, nfds, timeout);
  if (r == 0 && timeout == 0) r = real_poll(fds, nfds, 1);
  return r;
}

int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, unsigned long fdslen) {
  (void)fdslen;
  return poll(fds, nfds, timeout);
}
