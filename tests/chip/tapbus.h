/* SPDX-License-Identifier: MIT */
/*
 * tapbus.h - a test spibus in front of another one (the simulator) or of nothing: it logs the
 * opcode of every command, lets a test answer chosen commands itself (registers a simulator
 * profile lacks, a whole register-only chip), and can fail the Nth transaction. Commands the
 * hook leaves alone go to the inner bus one by one; without an inner bus they read 0xFF.
 */
#ifndef FLASHD_TEST_TAPBUS_H
#define FLASHD_TEST_TAPBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spibus;
struct tapbus;

/* One command (one chip-select period): tx[0..len) as sent, rx[0..len) to fill. Return true
 * when handled (rx is then what MISO carried). */
typedef bool (*tap_hook)(void *ctx, const uint8_t *tx, size_t len, uint8_t *rx);

/* inner is borrowed (NULL: no chip behind). Fails the test on ENOMEM. */
struct tapbus *tapbus_new(struct spibus *inner, tap_hook hook, void *ctx);
void tapbus_free(struct tapbus *t);
struct spibus *tapbus_bus(struct tapbus *t);

/* Opcodes of the commands since the last clear, as "05 35 06 01 ...". */
const char *tapbus_log(const struct tapbus *t);
void tapbus_clear_log(struct tapbus *t);
/* Commands with this opcode since the last clear. */
unsigned tapbus_count(const struct tapbus *t, uint8_t op);
/* Transactions n .. n+count-1 from now (n >= 1) fail with -EIO before reaching the chip. */
void tapbus_fail_at(struct tapbus *t, unsigned n, unsigned count);

#endif
