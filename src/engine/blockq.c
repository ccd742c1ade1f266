/* SPDX-License-Identifier: MIT */
/*
 * blockq.c - preallocated block ring between one producer and one consumer.
 *
 * Design: n blocks live in one allocation. Two index rings hold the free blocks and the
 * queued (filled) blocks; a block handed out to the producer or the consumer is in neither
 * and is tracked by its state field, so a double release or a push of a block that was
 * never handed out is caught by assert() (programmer error). One mutex guards both rings and
 * the closed/error state; cond_space wakes producers waiting for a free block, cond_data
 * wakes consumers waiting for a queued one. Both condvars run on CLOCK_MONOTONIC so a wall
 * clock step cannot stretch or cut a wait, and every wait has a deadline.
 *
 * Wake hooks run outside the lock (a hook typically calls MHD_resume_connection(), which
 * takes libmicrohttpd's own locks; calling it under ours would order the locks both ways).
 * A count of hook calls in progress lets blockq_set_hooks() wait until a ctx that is being
 * replaced is no longer in use.
 *
 * Counters are atomics so status pages can read them without the lock.
 */
#include "blockq.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

enum {
	BLK_FREE,
	BLK_PRODUCING,
	BLK_QUEUED,
	BLK_CONSUMING,
};

struct blockq {
	pthread_mutex_t lock;
	pthread_cond_t cond_space;
	pthread_cond_t cond_data;
	pthread_cond_t cond_hooks;

	size_t block_size;
	size_t n;
	uint8_t *mem;
	struct blockq_block *blocks;

	unsigned int *free_ring; /* FIFO of free block indices */
	size_t free_head, free_count;
	unsigned int *data_ring; /* FIFO of queued block indices */
	size_t data_head, data_count;

	bool closed;
	int err;

	blockq_hook_fn on_space;
	blockq_hook_fn on_data;
	void *hook_ctx;
	unsigned int hooks_running;

	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	_Atomic size_t queued;
	_Atomic size_t high_water;
};

/* The queue whose hook the current thread is running, so set_hooks() from a hook cannot
 * deadlock waiting for itself. */
static _Thread_local struct blockq *tl_in_hook;

static void deadline_after(struct timespec *ts, uint64_t timeout_ms)
{
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, ts);
	/* Clamp to ~100 years so the addition cannot overflow time_t arithmetic. */
	timeout_ms = MIN(timeout_ms, 100ull * 365 * 24 * 3600 * 1000);
	ns = (uint64_t)ts->tv_nsec + (timeout_ms % 1000) * NSEC_PER_MSEC;
	ts->tv_sec += (time_t)(timeout_ms / 1000 + ns / NSEC_PER_SEC);
	ts->tv_nsec = (long)(ns % NSEC_PER_SEC);
}

static int cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t attr;
	int r;

	r = pthread_condattr_init(&attr);
	if (r)
		return -r;
	r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!r)
		r = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return -r;
}

int blockq_new(size_t block_size, size_t n_blocks, struct blockq **ret_q)
{
	struct blockq *q;
	int r = -ENOMEM;

	if (block_size == 0 || n_blocks == 0 || n_blocks > BLOCKQ_MAX_BYTES / block_size ||
	    n_blocks > UINT32_MAX)
		return -EINVAL;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->block_size = block_size;
	q->n = n_blocks;
	q->mem = malloc(block_size * n_blocks);
	q->blocks = calloc(n_blocks, sizeof(*q->blocks));
	q->free_ring = calloc(n_blocks, sizeof(*q->free_ring));
	q->data_ring = calloc(n_blocks, sizeof(*q->data_ring));
	if (!q->mem || !q->blocks || !q->free_ring || !q->data_ring)
		goto err_mem;

	for (size_t i = 0; i < n_blocks; i++) {
		q->blocks[i] = (struct blockq_block){
			.data = q->mem + i * block_size,
			.cap = block_size,
			.index = (unsigned int)i,
			.state = BLK_FREE,
		};
		q->free_ring[i] = (unsigned int)i;
	}
	q->free_count = n_blocks;

	r = -pthread_mutex_init(&q->lock, NULL);
	if (r)
		goto err_mem;
	r = cond_init_monotonic(&q->cond_space);
	if (r)
		goto err_lock;
	r = cond_init_monotonic(&q->cond_data);
	if (r)
		goto err_space;
	r = cond_init_monotonic(&q->cond_hooks);
	if (r)
		goto err_data;

	*ret_q = q;
	return 0;

err_data:
	pthread_cond_destroy(&q->cond_data);
err_space:
	pthread_cond_destroy(&q->cond_space);
err_lock:
	pthread_mutex_destroy(&q->lock);
err_mem:
	free(q->data_ring);
	free(q->free_ring);
	free(q->blocks);
	free(q->mem);
	free(q);
	return r;
}

void blockq_free(struct blockq *q)
{
	if (!q)
		return;
	pthread_cond_destroy(&q->cond_hooks);
	pthread_cond_destroy(&q->cond_data);
	pthread_cond_destroy(&q->cond_space);
	pthread_mutex_destroy(&q->lock);
	free(q->data_ring);
	free(q->free_ring);
	free(q->blocks);
	free(q->mem);
	free(q);
}

/* Call the selected hooks outside the lock, counting the calls in progress. */
static void fire_hooks(struct blockq *q, bool space, bool data)
{
	blockq_hook_fn fs, fd;
	void *ctx;
	struct blockq *prev;

	pthread_mutex_lock(&q->lock);
	fs = space ? q->on_space : NULL;
	fd = data ? q->on_data : NULL;
	ctx = q->hook_ctx;
	if (!fs && !fd) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	q->hooks_running++;
	pthread_mutex_unlock(&q->lock);

	prev = tl_in_hook;
	tl_in_hook = q;
	if (fs)
		fs(ctx);
	if (fd)
		fd(ctx);
	tl_in_hook = prev;

	pthread_mutex_lock(&q->lock);
	if (--q->hooks_running == 0)
		pthread_cond_broadcast(&q->cond_hooks);
	pthread_mutex_unlock(&q->lock);
}

void blockq_set_hooks(struct blockq *q, blockq_hook_fn on_space, blockq_hook_fn on_data,
		      void *ctx)
{
	pthread_mutex_lock(&q->lock);
	q->on_space = on_space;
	q->on_data = on_data;
	q->hook_ctx = ctx;
	/*
	 * Hook calls in flight may still use the old ctx. Waiting is bounded by the hooks
	 * themselves, which must not block (they only resume a connection).
	 */
	if (tl_in_hook != q) {
		while (q->hooks_running > 0)
			pthread_cond_wait(&q->cond_hooks, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
}

/* Lock held. */
static void free_put(struct blockq *q, struct blockq_block *blk)
{
	blk->state = BLK_FREE;
	blk->len = 0;
	q->free_ring[(q->free_head + q->free_count) % q->n] = blk->index;
	q->free_count++;
}

/* Lock held. */
static bool owned_by_queue(struct blockq *q, struct blockq_block *blk)
{
	return blk >= q->blocks && blk < q->blocks + q->n && blk == &q->blocks[blk->index];
}

/* Lock held: 1 = a block is free, 0 = none yet, <0 = closed/aborted. */
static int space_ready(struct blockq *q)
{
	if (q->err)
		return q->err;
	if (q->closed)
		return -EPIPE;
	return q->free_count > 0;
}

static int get_free_locked(struct blockq *q, uint64_t timeout_ms, bool wait,
			   struct blockq_block **ret_blk)
{
	struct timespec deadline;
	struct blockq_block *blk;
	int r;

	r = space_ready(q);
	if (r == 0 && !wait)
		return -EAGAIN;
	if (r == 0) {
		deadline_after(&deadline, timeout_ms);
		while ((r = space_ready(q)) == 0) {
			if (pthread_cond_timedwait(&q->cond_space, &q->lock, &deadline) ==
			    ETIMEDOUT) {
				r = space_ready(q);
				if (r == 0)
					return -ETIMEDOUT;
				break;
			}
		}
	}
	if (r < 0)
		return r;

	blk = &q->blocks[q->free_ring[q->free_head]];
	q->free_head = (q->free_head + 1) % q->n;
	q->free_count--;
	assert(blk->state == BLK_FREE);
	blk->state = BLK_PRODUCING;
	blk->len = 0;
	*ret_blk = blk;
	return 0;
}

int blockq_try_get_free(struct blockq *q, struct blockq_block **ret_blk)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = get_free_locked(q, 0, false, ret_blk);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int blockq_get_free(struct blockq *q, uint64_t timeout_ms, struct blockq_block **ret_blk)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = get_free_locked(q, timeout_ms, true, ret_blk);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int blockq_push(struct blockq *q, struct blockq_block *blk, size_t len)
{
	size_t queued;
	int r = 0;

	pthread_mutex_lock(&q->lock);
	assert(owned_by_queue(q, blk) && blk->state == BLK_PRODUCING);
	assert(len <= blk->cap);
	if (q->err || q->closed) {
		r = q->err ? q->err : -EPIPE;
		free_put(q, blk);
		pthread_mutex_unlock(&q->lock);
		return r;
	}
	blk->len = MIN(len, blk->cap);
	blk->state = BLK_QUEUED;
	q->data_ring[(q->data_head + q->data_count) % q->n] = blk->index;
	q->data_count++;
	atomic_fetch_add_explicit(&q->bytes_in, blk->len, memory_order_relaxed);
	queued = q->data_count;
	atomic_store_explicit(&q->queued, queued, memory_order_relaxed);
	if (queued > atomic_load_explicit(&q->high_water, memory_order_relaxed))
		atomic_store_explicit(&q->high_water, queued, memory_order_relaxed);
	pthread_cond_signal(&q->cond_data);
	pthread_mutex_unlock(&q->lock);

	fire_hooks(q, false, true);
	return r;
}

/* Lock held: 1 = data queued, 0 = nothing yet, -EPIPE = drained after close, <0 abort. */
static int data_ready(struct blockq *q)
{
	if (q->err)
		return q->err;
	if (q->data_count > 0)
		return 1;
	return q->closed ? -EPIPE : 0;
}

static int pop_locked(struct blockq *q, uint64_t timeout_ms, bool wait,
		      struct blockq_block **ret_blk)
{
	struct timespec deadline;
	struct blockq_block *blk;
	int r;

	r = data_ready(q);
	if (r == 0 && !wait)
		return -EAGAIN;
	if (r == 0) {
		deadline_after(&deadline, timeout_ms);
		while ((r = data_ready(q)) == 0) {
			if (pthread_cond_timedwait(&q->cond_data, &q->lock, &deadline) ==
			    ETIMEDOUT) {
				r = data_ready(q);
				if (r == 0)
					return -ETIMEDOUT;
				break;
			}
		}
	}
	if (r == -EPIPE)
		return 0; /* end of stream */
	if (r < 0)
		return r;

	blk = &q->blocks[q->data_ring[q->data_head]];
	q->data_head = (q->data_head + 1) % q->n;
	q->data_count--;
	atomic_store_explicit(&q->queued, q->data_count, memory_order_relaxed);
	assert(blk->state == BLK_QUEUED);
	blk->state = BLK_CONSUMING;
	atomic_fetch_add_explicit(&q->bytes_out, blk->len, memory_order_relaxed);
	*ret_blk = blk;
	return 1;
}

int blockq_try_pop(struct blockq *q, struct blockq_block **ret_blk)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = pop_locked(q, 0, false, ret_blk);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int blockq_pop(struct blockq *q, uint64_t timeout_ms, struct blockq_block **ret_blk)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = pop_locked(q, timeout_ms, true, ret_blk);
	pthread_mutex_unlock(&q->lock);
	return r;
}

void blockq_release(struct blockq *q, struct blockq_block *blk)
{
	pthread_mutex_lock(&q->lock);
	assert(owned_by_queue(q, blk));
	assert(blk->state == BLK_CONSUMING || blk->state == BLK_PRODUCING);
	free_put(q, blk);
	pthread_cond_signal(&q->cond_space);
	pthread_mutex_unlock(&q->lock);

	fire_hooks(q, true, false);
}

void blockq_close(struct blockq *q)
{
	bool changed;

	pthread_mutex_lock(&q->lock);
	changed = !q->closed && !q->err;
	q->closed = true;
	pthread_cond_broadcast(&q->cond_space);
	pthread_cond_broadcast(&q->cond_data);
	pthread_mutex_unlock(&q->lock);

	if (changed)
		fire_hooks(q, true, true);
}

void blockq_abort(struct blockq *q, int err)
{
	bool changed = false;

	assert(err < 0);
	if (err >= 0)
		err = -ECANCELED;
	pthread_mutex_lock(&q->lock);
	if (!q->err) {
		changed = true;
		q->err = err;
		q->closed = true;
		/* Discard what the consumer will never read. */
		while (q->data_count > 0) {
			struct blockq_block *blk = &q->blocks[q->data_ring[q->data_head]];

			q->data_head = (q->data_head + 1) % q->n;
			q->data_count--;
			free_put(q, blk);
		}
		atomic_store_explicit(&q->queued, 0, memory_order_relaxed);
	}
	pthread_cond_broadcast(&q->cond_space);
	pthread_cond_broadcast(&q->cond_data);
	pthread_mutex_unlock(&q->lock);

	if (changed)
		fire_hooks(q, true, true);
}

int blockq_error(struct blockq *q)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = q->err;
	pthread_mutex_unlock(&q->lock);
	return r;
}

int blockq_is_closed(struct blockq *q)
{
	int r;

	pthread_mutex_lock(&q->lock);
	r = q->closed;
	pthread_mutex_unlock(&q->lock);
	return r;
}

void blockq_get_stats(struct blockq *q, struct blockq_stats *ret_stats)
{
	*ret_stats = (struct blockq_stats){
		.bytes_in = atomic_load_explicit(&q->bytes_in, memory_order_relaxed),
		.bytes_out = atomic_load_explicit(&q->bytes_out, memory_order_relaxed),
		.queued = atomic_load_explicit(&q->queued, memory_order_relaxed),
		.high_water = atomic_load_explicit(&q->high_water, memory_order_relaxed),
		.block_size = q->block_size,
		.n_blocks = q->n,
	};
}

size_t blockq_block_size(const struct blockq *q)
{
	return q->block_size;
}
