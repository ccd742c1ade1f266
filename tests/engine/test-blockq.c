/* SPDX-License-Identifier: MIT */
/*
 * blockq: FIFO order with exact bytes, backpressure, timeouts, close/abort semantics, wake
 * hooks; then the same across threads (this binary is also in the 'threads' suite, run under
 * ThreadSanitizer). Threads synchronise with condvars and barriers only, never with sleeps;
 * the few long timeouts only bound a test that would otherwise hang.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockq.h"
#include "util.h"

#define LONG_MS 20000 /* "forever" for a test: meson's timeout would fire first */

static struct blockq *new_q(size_t bs, size_t n)
{
	struct blockq *q = NULL;

	assert_int_equal(blockq_new(bs, n, &q), 0);
	assert_non_null(q);
	return q;
}

static void new_rejects_bad_sizes(void **state)
{
	struct blockq *q = (struct blockq *)0x1;

	(void)state;
	assert_int_equal(blockq_new(0, 8, &q), -EINVAL);
	assert_int_equal(blockq_new(4096, 0, &q), -EINVAL);
	assert_int_equal(blockq_new(SIZE_MAX / 2, 4, &q), -EINVAL);
	assert_int_equal(blockq_new(BLOCKQ_MAX_BYTES, 2, &q), -EINVAL);
	assert_ptr_equal(q, (struct blockq *)0x1); /* untouched on failure */
	blockq_free(NULL);
}

static void push_pop_is_fifo_with_exact_bytes(void **state)
{
	struct blockq *q = new_q(64, 4);
	uint8_t src[3][64];
	size_t lens[3] = {64, 1, 0};
	struct blockq_block *b;
	struct blockq_stats st;

	(void)state;
	for (int i = 0; i < 3; i++) {
		th_pattern(src[i], sizeof(src[i]), (uint32_t)i + 1);
		assert_int_equal(blockq_try_get_free(q, &b), 0);
		assert_int_equal(b->cap, 64);
		memcpy(b->data, src[i], lens[i]);
		assert_int_equal(blockq_push(q, b, lens[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(blockq_try_pop(q, &b), 1);
		assert_int_equal(b->len, lens[i]);
		th_assert_bytes(b->data, src[i], lens[i]);
		blockq_release(q, b);
	}
	blockq_get_stats(q, &st);
	assert_int_equal(st.bytes_in, 65);
	assert_int_equal(st.bytes_out, 65);
	assert_int_equal(st.high_water, 3);
	assert_int_equal(st.queued, 0);
	blockq_free(q);
}

static void ninth_block_unavailable_until_one_released(void **state)
{
	struct blockq *q = new_q(4096, 8);
	struct blockq_block *b[8], *extra = NULL;

	(void)state;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(blockq_get_free(q, 0, &b[i]), 0);
		assert_int_equal(blockq_push(q, b[i], 4096), 0);
	}
	assert_int_equal(blockq_try_get_free(q, &extra), -EAGAIN);
	assert_int_equal(blockq_get_free(q, 5, &extra), -ETIMEDOUT);
	assert_null(extra);

	assert_int_equal(blockq_pop(q, 0, &b[0]), 1);
	assert_int_equal(blockq_try_get_free(q, &extra), -EAGAIN); /* popped is not free yet */
	blockq_release(q, b[0]);
	assert_int_equal(blockq_try_get_free(q, &extra), 0);
	assert_non_null(extra);
	blockq_release(q, extra);
	blockq_free(q);
}

static void pop_on_empty_times_out(void **state)
{
	struct blockq *q = new_q(16, 2);
	struct blockq_block *b = NULL;

	(void)state;
	assert_int_equal(blockq_try_pop(q, &b), -EAGAIN);
	assert_int_equal(blockq_pop(q, 0, &b), -ETIMEDOUT);
	assert_int_equal(blockq_pop(q, 10, &b), -ETIMEDOUT);
	assert_null(b);
	blockq_free(q);
}

static void close_drains_then_eof_and_refuses_producer(void **state)
{
	struct blockq *q = new_q(16, 2);
	struct blockq_block *b, *held;

	(void)state;
	assert_int_equal(blockq_try_get_free(q, &b), 0);
	memcpy(b->data, "hello", 5);
	assert_int_equal(blockq_push(q, b, 5), 0);
	assert_int_equal(blockq_try_get_free(q, &held), 0);
	blockq_close(q);
	assert_true(blockq_is_closed(q));
	assert_int_equal(blockq_error(q), 0);
	assert_int_equal(blockq_push(q, held, 3), -EPIPE); /* reclaimed */
	assert_int_equal(blockq_try_get_free(q, &held), -EPIPE);

	assert_int_equal(blockq_pop(q, LONG_MS, &b), 1);
	assert_memory_equal(b->data, "hello", 5);
	blockq_release(q, b);
	assert_int_equal(blockq_pop(q, LONG_MS, &b), 0);
	assert_int_equal(blockq_try_pop(q, &b), 0);
	blockq_close(q); /* idempotent */
	blockq_free(q);
}

static void abort_discards_and_returns_error_everywhere(void **state)
{
	struct blockq *q = new_q(16, 3);
	struct blockq_block *b, *held;
	struct blockq_stats st;

	(void)state;
	assert_int_equal(blockq_try_get_free(q, &b), 0);
	assert_int_equal(blockq_push(q, b, 16), 0);
	assert_int_equal(blockq_try_get_free(q, &held), 0);
	blockq_abort(q, -ECANCELED);
	blockq_abort(q, -EIO); /* first abort wins */
	assert_int_equal(blockq_error(q), -ECANCELED);
	assert_int_equal(blockq_try_pop(q, &b), -ECANCELED);
	assert_int_equal(blockq_pop(q, LONG_MS, &b), -ECANCELED);
	assert_int_equal(blockq_get_free(q, LONG_MS, &b), -ECANCELED);
	assert_int_equal(blockq_push(q, held, 1), -ECANCELED);
	blockq_close(q); /* ignored after abort */
	assert_int_equal(blockq_error(q), -ECANCELED);
	blockq_get_stats(q, &st);
	assert_int_equal(st.queued, 0);
	blockq_free(q);
}

struct hook_count {
	atomic_int space;
	atomic_int data;
};

static void count_space(void *ctx)
{
	atomic_fetch_add(&((struct hook_count *)ctx)->space, 1);
}

static void count_data(void *ctx)
{
	atomic_fetch_add(&((struct hook_count *)ctx)->data, 1);
}

static void hooks_fire_on_push_release_close(void **state)
{
	struct blockq *q = new_q(16, 2);
	struct hook_count hc = {0};
	struct blockq_block *b;

	(void)state;
	blockq_set_hooks(q, count_space, count_data, &hc);
	assert_int_equal(blockq_try_get_free(q, &b), 0);
	assert_int_equal(atomic_load(&hc.space) + atomic_load(&hc.data), 0);
	assert_int_equal(blockq_push(q, b, 4), 0);
	assert_int_equal(atomic_load(&hc.data), 1);
	assert_int_equal(atomic_load(&hc.space), 0);
	assert_int_equal(blockq_try_pop(q, &b), 1);
	blockq_release(q, b);
	assert_int_equal(atomic_load(&hc.space), 1);
	blockq_close(q);
	assert_int_equal(atomic_load(&hc.space), 2);
	assert_int_equal(atomic_load(&hc.data), 2);
	blockq_set_hooks(q, NULL, NULL, NULL);
	blockq_abort(q, -EIO);
	assert_int_equal(atomic_load(&hc.data), 2);
	blockq_free(q);
}

/* ---- threads ---- */

#define STREAM_LEN (8u * 1024 * 1024 + 12345)
#define STREAM_SEED 7

struct stream {
	struct blockq *q;
	uint8_t *src;
	size_t len;
	int producer_r;
};

/* Pushes src in uneven pieces (never a full block's worth at once) through blocking calls. */
static void *producer_main(void *arg)
{
	struct stream *s = arg;
	size_t off = 0, piece = 1;
	int r = 0;

	while (off < s->len) {
		struct blockq_block *b;
		size_t n;

		r = blockq_get_free(s->q, LONG_MS, &b);
		if (r < 0)
			break;
		n = MIN(MIN(piece, b->cap), s->len - off);
		memcpy(b->data, s->src + off, n);
		r = blockq_push(s->q, b, n);
		if (r < 0)
			break;
		off += n;
		piece = (piece * 7 + 13) % (b->cap + 1);
	}
	if (r == 0)
		blockq_close(s->q);
	s->producer_r = r;
	return NULL;
}

static void stream_across_threads_is_byte_exact(void **state)
{
	struct stream s = {.q = new_q(65536, 8), .len = STREAM_LEN};
	uint8_t *dst = malloc(STREAM_LEN);
	struct blockq_stats st;
	struct blockq_block *b;
	pthread_t t;
	size_t off = 0;
	int r;

	(void)state;
	s.src = malloc(STREAM_LEN);
	assert_non_null(s.src);
	assert_non_null(dst);
	th_pattern(s.src, s.len, STREAM_SEED);
	assert_int_equal(pthread_create(&t, NULL, producer_main, &s), 0);
	while ((r = blockq_pop(s.q, LONG_MS, &b)) == 1) {
		assert_true(off + b->len <= STREAM_LEN);
		memcpy(dst + off, b->data, b->len);
		off += b->len;
		blockq_release(s.q, b);
	}
	assert_int_equal(r, 0);
	pthread_join(t, NULL);
	assert_int_equal(s.producer_r, 0);
	assert_int_equal(off, STREAM_LEN);
	th_assert_bytes(dst, s.src, STREAM_LEN);
	blockq_get_stats(s.q, &st);
	assert_int_equal(st.bytes_in, STREAM_LEN);
	assert_int_equal(st.bytes_out, STREAM_LEN);
	assert_true(st.high_water >= 1 && st.high_water <= 8);
	blockq_free(s.q);
	free(s.src);
	free(dst);
}

struct bp {
	struct blockq *q;
	atomic_int released;
	int pushed;
	int ninth_r;
	int released_when_ninth;
	pthread_barrier_t full;
};

static void *bp_producer(void *arg)
{
	struct bp *p = arg;
	struct blockq_block *b;

	/* No cmocka asserts off the main thread (they longjmp); results are checked there. */
	for (int i = 0; i < 8; i++) {
		if (blockq_get_free(p->q, LONG_MS, &b) == 0 && blockq_push(p->q, b, 1) == 0)
			p->pushed++;
	}
	pthread_barrier_wait(&p->full);
	p->ninth_r = blockq_get_free(p->q, LONG_MS, &b);
	p->released_when_ninth = atomic_load(&p->released);
	if (p->ninth_r == 0)
		blockq_release(p->q, b);
	return NULL;
}

static void blocked_producer_proceeds_only_after_release(void **state)
{
	struct bp p = {.q = new_q(128, 8)};
	struct blockq_block *b;
	pthread_t t;

	(void)state;
	pthread_barrier_init(&p.full, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, bp_producer, &p), 0);
	pthread_barrier_wait(&p.full);
	assert_int_equal(p.pushed, 8);
	assert_int_equal(blockq_try_get_free(p.q, &b), -EAGAIN);
	assert_int_equal(blockq_pop(p.q, LONG_MS, &b), 1);
	atomic_store(&p.released, 1);
	blockq_release(p.q, b);
	pthread_join(t, NULL);
	assert_int_equal(p.ninth_r, 0);
	assert_int_equal(p.released_when_ninth, 1);
	pthread_barrier_destroy(&p.full);
	blockq_free(p.q);
}

struct waiter {
	struct blockq *q;
	pthread_barrier_t *start;
	int pop_r;
	int get_r;
	bool producer;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct blockq_block *b;

	pthread_barrier_wait(w->start);
	if (w->producer)
		w->get_r = blockq_get_free(w->q, LONG_MS, &b);
	else
		w->pop_r = blockq_pop(w->q, LONG_MS, &b);
	return NULL;
}

static void close_and_abort_wake_blocked_threads(void **state)
{
	pthread_barrier_t start;
	pthread_t tc, tp;
	struct blockq_block *held;

	(void)state;
	/* close wakes a consumer waiting on an empty queue with EOF */
	{
		struct waiter w = {.q = new_q(16, 1), .start = &start, .pop_r = 99};

		pthread_barrier_init(&start, NULL, 2);
		assert_int_equal(pthread_create(&tc, NULL, waiter_main, &w), 0);
		pthread_barrier_wait(&start);
		blockq_close(w.q);
		pthread_join(tc, NULL);
		assert_int_equal(w.pop_r, 0);
		pthread_barrier_destroy(&start);
		blockq_free(w.q);
	}
	/* abort wakes both a producer waiting on a full queue and a consumer on an empty one */
	{
		struct blockq *q = new_q(16, 1);
		struct waiter wc = {.q = q, .start = &start, .pop_r = 99};
		struct waiter wp = {.q = q, .start = &start, .get_r = 99, .producer = true};

		assert_int_equal(blockq_try_get_free(q, &held), 0); /* now full and empty */
		pthread_barrier_init(&start, NULL, 3);
		assert_int_equal(pthread_create(&tc, NULL, waiter_main, &wc), 0);
		assert_int_equal(pthread_create(&tp, NULL, waiter_main, &wp), 0);
		pthread_barrier_wait(&start);
		blockq_abort(q, -EIO);
		pthread_join(tc, NULL);
		pthread_join(tp, NULL);
		assert_int_equal(wc.pop_r, -EIO);
		assert_int_equal(wp.get_r, -EIO);
		blockq_release(q, held);
		pthread_barrier_destroy(&start);
		blockq_free(q);
	}
}

/*
 * The libmicrohttpd pattern: the consumer never blocks in the queue. It uses try_pop and,
 * on -EAGAIN, "suspends" until the on_data hook "resumes" it (here: a condvar flag).
 */
struct nb {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool resumed;
	atomic_int hook_calls;
};

static void nb_resume(void *ctx)
{
	struct nb *n = ctx;

	atomic_fetch_add(&n->hook_calls, 1);
	pthread_mutex_lock(&n->lock);
	n->resumed = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void nonblocking_consumer_driven_by_hooks(void **state)
{
	struct stream s = {.q = new_q(4096, 4), .len = 1u << 20};
	struct nb n = {.resumed = false};
	uint8_t *dst = malloc(s.len);
	struct blockq_block *b;
	pthread_t t;
	size_t off = 0;
	int r;

	(void)state;
	s.src = malloc(s.len);
	assert_non_null(s.src);
	assert_non_null(dst);
	th_pattern(s.src, s.len, 3);
	pthread_mutex_init(&n.lock, NULL);
	pthread_cond_init(&n.cond, NULL);
	blockq_set_hooks(s.q, NULL, nb_resume, &n);
	assert_int_equal(pthread_create(&t, NULL, producer_main, &s), 0);
	for (;;) {
		pthread_mutex_lock(&n.lock);
		n.resumed = false; /* "suspend" before looking, so no wake-up is lost */
		pthread_mutex_unlock(&n.lock);
		r = blockq_try_pop(s.q, &b);
		if (r == -EAGAIN) {
			pthread_mutex_lock(&n.lock);
			while (!n.resumed)
				pthread_cond_wait(&n.cond, &n.lock);
			pthread_mutex_unlock(&n.lock);
			continue;
		}
		if (r <= 0)
			break;
		memcpy(dst + off, b->data, b->len);
		off += b->len;
		blockq_release(s.q, b);
	}
	assert_int_equal(r, 0);
	pthread_join(t, NULL);
	blockq_set_hooks(s.q, NULL, NULL, NULL);
	assert_int_equal(off, s.len);
	th_assert_bytes(dst, s.src, s.len);
	assert_true(atomic_load(&n.hook_calls) >= 1);
	pthread_cond_destroy(&n.cond);
	pthread_mutex_destroy(&n.lock);
	blockq_free(s.q);
	free(s.src);
	free(dst);
}

/*
 * Clearing the hooks waits for a hook call in progress, so the front end may free ctx
 * right after: the hook is held inside until the clearing thread has started, and the
 * clearing thread checks on return that the hook has already left.
 */
struct inflight {
	struct blockq *q;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, release, cleared;
	atomic_int exited;
	int exited_seen_by_clearer;
};

static void slow_hook(void *ctx)
{
	struct inflight *f = ctx;

	pthread_mutex_lock(&f->lock);
	f->entered = true;
	pthread_cond_broadcast(&f->cond);
	while (!f->release)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	atomic_store(&f->exited, 1);
}

static void *pusher_main(void *arg)
{
	struct inflight *f = arg;
	struct blockq_block *b;

	if (blockq_try_get_free(f->q, &b) == 0)
		(void)blockq_push(f->q, b, 1); /* runs slow_hook on this thread */
	return NULL;
}

static void *clearer_main(void *arg)
{
	struct inflight *f = arg;

	blockq_set_hooks(f->q, NULL, NULL, NULL);
	f->exited_seen_by_clearer = atomic_load(&f->exited);
	pthread_mutex_lock(&f->lock);
	f->cleared = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static void clearing_hooks_waits_for_call_in_progress(void **state)
{
	struct inflight f = {.q = new_q(16, 2)};
	pthread_t tp, tc;

	(void)state;
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	blockq_set_hooks(f.q, NULL, slow_hook, &f);
	assert_int_equal(pthread_create(&tp, NULL, pusher_main, &f), 0);
	pthread_mutex_lock(&f.lock);
	while (!f.entered)
		pthread_cond_wait(&f.cond, &f.lock);
	pthread_mutex_unlock(&f.lock);
	assert_int_equal(pthread_create(&tc, NULL, clearer_main, &f), 0);
	/*
	 * Give a broken set_hooks() the chance to return early. The wait only ever ends early
	 * for a broken implementation, so a slow machine cannot make a correct one fail.
	 */
	{
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&f.lock);
		while (!f.cleared && pthread_cond_timedwait(&f.cond, &f.lock, &until) == 0)
			;
		assert_false(f.cleared);
		pthread_mutex_unlock(&f.lock);
	}
	pthread_mutex_lock(&f.lock);
	f.release = true;
	pthread_cond_broadcast(&f.cond);
	pthread_mutex_unlock(&f.lock);
	pthread_join(tc, NULL);
	pthread_join(tp, NULL);
	assert_int_equal(f.exited_seen_by_clearer, 1);
	pthread_cond_destroy(&f.cond);
	pthread_mutex_destroy(&f.lock);
	blockq_free(f.q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_rejects_bad_sizes),
		cmocka_unit_test(push_pop_is_fifo_with_exact_bytes),
		cmocka_unit_test(ninth_block_unavailable_until_one_released),
		cmocka_unit_test(pop_on_empty_times_out),
		cmocka_unit_test(close_drains_then_eof_and_refuses_producer),
		cmocka_unit_test(abort_discards_and_returns_error_everywhere),
		cmocka_unit_test(hooks_fire_on_push_release_close),
		cmocka_unit_test(stream_across_threads_is_byte_exact),
		cmocka_unit_test(blocked_producer_proceeds_only_after_release),
		cmocka_unit_test(close_and_abort_wake_blocked_threads),
		cmocka_unit_test(nonblocking_consumer_driven_by_hooks),
		cmocka_unit_test(clearing_hooks_waits_for_call_in_progress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
