/* SPDX-License-Identifier: MIT */
/*
 * bench-engine - the engine's speed against the physical floor, in the simulator's virtual
 * time: W25Q128JV, 16 MiB, 32 MHz, 15 µs per bus transaction, datasheet typical busy times.
 *
 * Every case runs the path the daemon runs: a job submitted to the engine, its worker thread
 * with the progress/range/cancel hooks, image bytes streamed through the job's block queue
 * from another thread (as an HTTP upload or download does), and the backup store in a
 * temporary state directory with the default settings:
 *   read          read-only: no backup
 *   chip_erase    flash.erase whole_chip with backup=false: the raw erase flashrom -E does
 *                 (with a backup the erase first reads the chip: see erase_backup)
 *   erase_backup  the same erase with the default backup, on a chip full of data: reads and
 *                 saves 16 MiB, erases, reads back (floor: read + erase + read)
 *   write_erased  default write (smart, verify, backup): the backup holds blank records only
 *   program_only  the programming phase of write_erased (modelled time between the worker
 *                 entering and leaving "programming"), against the page-program floor
 *   full_rewrite  default write of different data: 16 MiB of old contents go to the backup
 *   one_sector    default write where one 4 KiB sector differs: a 4 KiB backup
 *
 * The floor of an operation is the bus time of its bytes plus the chip's typical busy times;
 * the ratio modelled/floor is what we hold to 1.05. Flashrom's figures for the same model are
 * the ones measured and quoted in issue 4 (they are not re-measured here: flashrom cannot be
 * attached to this simulator without a spidev device). Backups cost disk time, not bus time:
 * the wall-clock column shows it.
 *
 * Output: a table, then one `bench: {json}` line per case.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backup.h"
#include "blockq.h"
#include "clock.h"
#include "engine.h"
#include "job.h"
#include "log.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

#define SPEED_HZ 32000000.0
#define BYTE_S (8.0 / SPEED_HZ)
#define CHIP_SIZE (16u * 1024 * 1024)

struct gen {
	uint32_t x;
	uint64_t pos, len;
	/* one_sector: bytes [flip_at, flip_at + flip_len) are inverted */
	uint64_t flip_at, flip_len;
};

static void gen_reset(struct gen *g, uint32_t seed, uint64_t len)
{
	memset(g, 0, sizeof(*g));
	g->x = seed;
	g->len = len;
}

static void gen_fill(struct gen *g, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		g->x ^= g->x << 13;
		g->x ^= g->x >> 17;
		g->x ^= g->x << 5;
		buf[i] = (uint8_t)(g->x >> 24);
		if (g->pos + i >= g->flip_at && g->pos + i < g->flip_at + g->flip_len)
			buf[i] = (uint8_t)~buf[i];
	}
	g->pos += len;
}

/* The other end of a job's stream: an uploader feeding it or a downloader draining it. */
struct peer {
	struct blockq *q;
	struct gen *g; /* upload; NULL: download */
	pthread_t th;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	if (p->g) {
		while (p->g->pos < p->g->len) {
			struct blockq_block *b;
			size_t n;

			if (blockq_get_free(p->q, 60000, &b) < 0)
				return NULL;
			n = (size_t)MIN((uint64_t)b->cap, p->g->len - p->g->pos);
			gen_fill(p->g, b->data, n);
			if (blockq_push(p->q, b, n) < 0)
				return NULL;
		}
		blockq_close(p->q);
	} else {
		struct blockq_block *b;

		while (blockq_pop(p->q, 60000, &b) == 1)
			blockq_release(p->q, b);
	}
	return NULL;
}

/* Modelled time per phase of the running job, from engine_config.on_phase (worker thread). */
struct phases {
	struct simchip *sim;
	enum job_phase cur;
	uint64_t since_ns;
	uint64_t ns[_JOB_PHASE_MAX];
};

static void on_phase(void *ctx, struct job *job, enum job_phase phase)
{
	struct phases *ph = ctx;
	uint64_t now = fclock_now_ns(simchip_clock(ph->sim));

	(void)job;
	ph->ns[ph->cur] += now - ph->since_ns;
	ph->cur = phase;
	ph->since_ns = now;
}

struct result {
	const char *name;
	double modelled_s, floor_s, flashrom_s, wall_s;
	uint64_t transactions, polls;
	bool backup;
};

static struct result results[10];
static size_t n_results;

struct bench {
	struct simchip *sim;
	struct engine *e;
	struct phases ph;
};

/* Run one job through the engine; its stream (if any) fed or drained by a peer thread. */
static int run_case(struct bench *b, const char *name, const struct job_params *p,
		    struct gen *g, double floor_s, double flashrom_s, struct result **ret)
{
	struct simchip_stats s0, s1;
	struct job_snapshot snap;
	struct peer peer = {0};
	struct result *r = &results[n_results++];
	struct job *job;
	uint64_t t0, w0;
	int rc;

	simchip_get_stats(b->sim, &s0);
	t0 = fclock_now_ns(simchip_clock(b->sim));
	w0 = fclock_mono_ns();
	memset(b->ph.ns, 0, sizeof(b->ph.ns));
	b->ph.cur = JOB_PHASE_NONE;
	b->ph.since_ns = t0;
	rc = engine_submit(b->e, p, &job, NULL, 0);
	if (rc < 0) {
		fprintf(stderr, "bench: %s: submit: %s\n", name, strerror(-rc));
		return 1;
	}
	if (p->data == JOB_DATA_STREAM) {
		peer.q = job_stream(job);
		peer.g = g;
		if (pthread_create(&peer.th, NULL, peer_main, &peer) != 0)
			return 1;
	}
	(void)job_wait(job, 3600 * 1000);
	if (p->data == JOB_DATA_STREAM)
		pthread_join(peer.th, NULL);
	b->ph.ns[b->ph.cur] += fclock_now_ns(simchip_clock(b->sim)) - b->ph.since_ns;
	simchip_get_stats(b->sim, &s1);
	if (job_snapshot(job, &snap) < 0)
		return 1;
	if (snap.state != JOB_DONE) {
		fprintf(stderr, "bench: %s: %s: %s %s\n", name, job_state_name(snap.state),
			snap.error.op, snap.error.detail);
		job_snapshot_clear(&snap);
		job_unref(job);
		return 1;
	}
	r->name = name;
	r->modelled_s = (double)(fclock_now_ns(simchip_clock(b->sim)) - t0) / 1e9;
	r->wall_s = (double)(fclock_mono_ns() - w0) / 1e9;
	r->floor_s = floor_s;
	r->flashrom_s = flashrom_s;
	r->transactions = s1.transactions - s0.transactions;
	r->polls = s1.status_polls - s0.status_polls;
	r->backup = snap.backup_id[0] != 0;
	job_snapshot_clear(&snap);
	job_unref(job);
	if (ret)
		*ret = r;
	return 0;
}

static void stream_params(struct job_params *p, enum job_type type, uint64_t len)
{
	job_params_init(p, type);
	p->len = len;
	p->data = JOB_DATA_STREAM;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const struct sim_profile *prof = sim_profile_find("W25Q128JV");
	const double size = CHIP_SIZE, pages = size / 256;
	const double t_read = size * BYTE_S, t_erase = 256 * 0.150;
	const double t_page = 400e-6 + 260 * BYTE_S, t_prog = pages * t_page;
	struct bench b = {0};
	struct simchip_opts so;
	struct engine_config ec;
	struct job_params p;
	struct result *we = NULL, *po;
	struct gen g;
	struct rusage ru;
	char image[512], state[512], err[256], cmd[1100];
	int r, fail = 0;

	log_set_level(LOG_LVL_WARN);
	snprintf(image, sizeof(image), "%s/bench-w25q128jv-%d.img", dir, (int)getpid());
	snprintf(state, sizeof(state), "%s/bench-state-%d", dir, (int)getpid());
	simchip_opts_init(&so);
	so.time_scale = 0;
	so.speed_hz = (uint32_t)SPEED_HZ;
	so.txn_overhead_ns = 15000;
	r = simchip_open(prof, image, &so, &b.sim, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "bench: %s\n", err);
		return 1;
	}
	b.ph.sim = b.sim;
	engine_config_init(&ec);
	ec.bus = simchip_bus(b.sim);
	ec.state_dir = state;
	ec.on_phase = on_phase;
	ec.on_phase_ctx = &b.ph;
	r = engine_new(&ec, &b.e);
	if (r >= 0)
		r = engine_start(b.e);
	if (r < 0) {
		fprintf(stderr, "bench: engine: %s\n", strerror(-r));
		return 1;
	}

	stream_params(&p, JOB_READ, 0);
	p.whole_chip = true;
	p.len = 0;
	fail |= run_case(&b, "read", &p, NULL, t_read, 4.36, NULL);

	job_params_init(&p, JOB_ERASE);
	p.whole_chip = true;
	p.no_backup = true;
	fail |= run_case(&b, "chip_erase", &p, NULL, t_erase, 44.4, NULL);

	stream_params(&p, JOB_WRITE, CHIP_SIZE);
	gen_reset(&g, 1, CHIP_SIZE);
	fail |= run_case(&b, "write_erased", &p, &g, t_read + t_prog + t_read, 42.2, &we);
	if (we) {
		po = &results[n_results++];
		*po = *we;
		po->name = "program_only";
		po->modelled_s = (double)b.ph.ns[JOB_PHASE_PROGRAMMING] / 1e9;
		po->floor_s = t_prog;
		po->flashrom_s = 0;
		po->wall_s = 0;
		po->transactions = 0;
		po->polls = 0;
	}

	stream_params(&p, JOB_WRITE, CHIP_SIZE);
	gen_reset(&g, 2, CHIP_SIZE);
	fail |= run_case(&b, "full_rewrite", &p, &g, t_read + t_erase + t_prog + t_read, 86.5,
			 NULL);

	stream_params(&p, JOB_WRITE, CHIP_SIZE);
	gen_reset(&g, 2, CHIP_SIZE);
	g.flip_at = 0x123000;
	g.flip_len = 4096;
	fail |= run_case(&b, "one_sector", &p, &g,
			 t_read + 0.045 + 16 * t_page + 4096 * BYTE_S, 8.68, NULL);

	job_params_init(&p, JOB_ERASE);
	p.whole_chip = true;
	fail |= run_case(&b, "erase_backup", &p, NULL, t_read + t_erase + t_read, 0, NULL);

	engine_free(b.e);
	simchip_close(b.sim);
	unlink(image);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s, ignoring\n", state);
	getrusage(RUSAGE_SELF, &ru);
	if (fail)
		return 1;

	printf("%-14s %12s %10s %8s %12s %10s %8s %8s %7s\n", "case", "modelled_s", "floor_s",
	       "ratio", "flashrom_s", "vs_flashrom", "wall_s", "txns", "backup");
	for (size_t i = 0; i < n_results; i++) {
		struct result *x = &results[i];

		printf("%-14s %12.3f %10.3f %8.4f %12.2f %10.3f %8.3f %8llu %7s\n", x->name,
		       x->modelled_s, x->floor_s, x->modelled_s / x->floor_s, x->flashrom_s,
		       x->flashrom_s > 0 ? x->modelled_s / x->flashrom_s : 0.0, x->wall_s,
		       (unsigned long long)x->transactions, x->backup ? "yes" : "no");
	}
	for (size_t i = 0; i < n_results; i++) {
		struct result *x = &results[i];

		char vs[96] = "";

		/* only the cases issue 4 measured flashrom on carry a comparison */
		if (x->flashrom_s > 0)
			snprintf(vs, sizeof(vs),
				 ", \"flashrom_s\": %.2f, \"ratio_vs_flashrom\": %.4f",
				 x->flashrom_s, x->modelled_s / x->flashrom_s);
		printf("bench: {\"case\": \"%s\", \"modelled_s\": %.4f, \"floor_s\": %.4f, "
		       "\"ratio\": %.4f%s, \"wall_s\": %.3f, \"backup\": %s",
		       x->name, x->modelled_s, x->floor_s, x->modelled_s / x->floor_s, vs, x->wall_s,
		       x->backup ? "true" : "false");
		if (x->transactions)
			printf(", \"transactions\": %llu, \"status_polls\": %llu",
			       (unsigned long long)x->transactions, (unsigned long long)x->polls);
		printf("}\n");
	}
	printf("bench: {\"case\": \"engine_peak_rss\", \"max_rss_kib\": %ld}\n", ru.ru_maxrss);
	for (size_t i = 0; i < n_results; i++)
		if (results[i].modelled_s / results[i].floor_s > 1.05)
			return 1;
	return 0;
}
