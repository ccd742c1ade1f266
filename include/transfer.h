/* SPDX-License-Identifier: MIT */
/*
 * transfer.h - streaming image routes over the engine:
 *   PUT /api/v1/flash[?offset=&mode=smart|full&verify=&unlock=&preserve=]  write, answer when
 *       verified (JSON job record; HTTP status from the job's error)
 *   PUT /api/v1/flash/verify[?offset=]   compare the chip with the upload
 *   GET /api/v1/flash[?offset=&length=&passes=]   the chip's contents as they are read
 *       (X-Flashd-Job names the read job; HEAD answers the same headers and starts nothing)
 *   GET /api/v1/jobs/{id}/events   server-sent events: "progress" while it runs, "done" at the end,
 *       ": keep-alive" comment lines while nothing changes
 * Query numbers are decimal or 0x hex with an optional K/M suffix; malformed is 400, beyond 64
 * bits 416. A download whose read job waits on a client slower than the httpd's
 * stream.download_min_rate is cut off (the job fails with ECONNABORTED). Limits come from
 * httpd_get_stream_limits() of the server passed to transfer_add_routes().
 */
#ifndef FLASHD_TRANSFER_H
#define FLASHD_TRANSFER_H

#include <stddef.h>

struct engine;
struct httpd;
struct transfer;

/* engine is borrowed. block_size/n_blocks bound what one transfer holds in memory. */
int transfer_new(struct engine *engine, size_t block_size, size_t n_blocks, struct transfer **ret);
/* Register the routes on h (before httpd_start()); t must outlive h's serving. */
int transfer_add_routes(struct transfer *t, struct httpd *h);
/* After httpd_free(). Accepts NULL. */
void transfer_free(struct transfer *t);

#endif
