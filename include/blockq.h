/* SPDX-License-Identifier: MIT */
/*
 * blockq.h - a preallocated ring of fixed-size blocks that carries image bytes between one
 * producer and one consumer thread (an HTTP upload and the worker, or the worker and an HTTP
 * download) with backpressure.
 *
 * All memory is allocated by blockq_new(); nothing is allocated per block afterwards (STYLE
 * C18). Blocks cycle free -> producer (get_free) -> queued (push) -> consumer (pop) -> free
 * (release). Queued blocks are delivered in push order (FIFO).
 *
 * Threading: every function may be called from any thread. The usual pattern is exactly one
 * producer and one consumer; several of each work, but FIFO order then only holds per push.
 * Blocking calls take a timeout in milliseconds (0 = do not wait) and return -ETIMEDOUT when
 * it expires; there is no infinite wait. Non-blocking front ends (libmicrohttpd callbacks) use
 * the try_ variants and the wake hooks instead.
 *
 * End of stream: the producer calls blockq_close(); the consumer drains the queued blocks
 * and then blockq_pop() returns 0 (EOF). Failure: blockq_abort(err) from either side wakes
 * every waiter, and every later get_free/push/pop returns err. release() is always accepted
 * so no block is ever lost.
 */
#ifndef FLASHD_BLOCKQ_H
#define FLASHD_BLOCKQ_H

#include <stddef.h>
#include <stdint.h>

struct blockq;

/*
 * One block. Owned by the queue; the pointer is borrowed by whoever got it from get_free()
 * or pop() until it is handed back with push() or release().
 */
struct blockq_block {
	uint8_t *data; /* cap bytes */
	size_t cap;    /* == the queue's block_size */
	size_t len;    /* valid bytes: set by push(), read by the consumer after pop() */
	/* private to blockq.c */
	unsigned int index;
	unsigned int state;
};

/* Called outside the queue lock, on whichever thread caused the event. */
typedef void (*blockq_hook_fn)(void *ctx);

struct blockq_stats {
	uint64_t bytes_in;     /* total pushed */
	uint64_t bytes_out;    /* total popped */
	size_t queued;         /* blocks waiting for the consumer now */
	size_t high_water;     /* most blocks ever queued at once */
	size_t block_size;
	size_t n_blocks;
};

/* Largest total allocation blockq_new() accepts (block_size * n_blocks). */
#define BLOCKQ_MAX_BYTES (256u * 1024u * 1024u)

/*
 * Allocate a queue of n_blocks blocks of block_size bytes each. 0, -EINVAL (zero sizes or
 * more than BLOCKQ_MAX_BYTES), -ENOMEM. Free with blockq_free().
 */
int blockq_new(size_t block_size, size_t n_blocks, struct blockq **ret_q);
/* Accepts NULL. No thread may be using q any more; blocks still held are reclaimed. */
void blockq_free(struct blockq *q);

/*
 * Producer: get an empty block to fill. 0 and *ret_blk, -EAGAIN (try_: none free now),
 * -ETIMEDOUT, -EPIPE (queue closed), or the abort error. Nothing is written on failure.
 */
int blockq_try_get_free(struct blockq *q, struct blockq_block **ret_blk);
int blockq_get_free(struct blockq *q, uint64_t timeout_ms, struct blockq_block **ret_blk);

/*
 * Producer: queue blk with len valid bytes (len <= blk->cap; len 0 is allowed and is
 * delivered as an empty block). Always takes ownership of blk: on -EPIPE (closed) or the
 * abort error the block goes back to the free list.
 */
int blockq_push(struct blockq *q, struct blockq_block *blk, size_t len);

/*
 * Consumer: take the oldest queued block. 1 and *ret_blk; 0 at end of stream (closed and
 * drained); -EAGAIN (try_: nothing queued now), -ETIMEDOUT, or the abort error (queued
 * blocks are discarded once aborted).
 */
int blockq_try_pop(struct blockq *q, struct blockq_block **ret_blk);
int blockq_pop(struct blockq *q, uint64_t timeout_ms, struct blockq_block **ret_blk);

/* Consumer (or producer with an unused block): give blk back to the free list. */
void blockq_release(struct blockq *q, struct blockq_block *blk);

/* Producer: no more data. Idempotent; ignored after an abort. Wakes everyone. */
void blockq_close(struct blockq *q);
/*
 * Either side: stop the stream with err (negative errno, e.g. -ECANCELED, -EIO). The first
 * abort wins; later get_free/push/pop return it. Wakes everyone.
 */
void blockq_abort(struct blockq *q, int err);
/* 0 while open or closed-but-draining, else the abort error. */
int blockq_error(struct blockq *q);
/* True once closed or aborted. */
int blockq_is_closed(struct blockq *q);

/*
 * Wake hooks, for front ends that cannot block: on_space runs when a block becomes free (or
 * the queue closes/aborts), on_data when a block is queued (or the queue closes/aborts). Both
 * run outside the lock, possibly concurrently with each other, on the thread that caused the
 * event. Either may be NULL. Replacing the hooks waits until hook calls already in progress
 * have returned (unless called from inside a hook of this queue), so after
 * blockq_set_hooks(q, NULL, NULL, NULL) returns, ctx is no longer used and may be freed.
 */
void blockq_set_hooks(struct blockq *q, blockq_hook_fn on_space, blockq_hook_fn on_data,
		      void *ctx);

/* Lock-free snapshot of the counters; each field is exact, the set is not atomic. */
void blockq_get_stats(struct blockq *q, struct blockq_stats *ret_stats);
size_t blockq_block_size(const struct blockq *q);

#endif
