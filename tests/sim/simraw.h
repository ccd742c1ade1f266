/* SPDX-License-Identifier: MIT */
/*
 * simraw.h - raw SPI NOR commands for the simulator tests: every helper sends exactly the bytes
 * its name says (no chip layer in between), so a test states the datasheet sequence it checks.
 * Failures are cmocka failures; all helpers work on any struct spibus.
 */
#ifndef FLASHD_TEST_SIMRAW_H
#define FLASHD_TEST_SIMRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spibus;

/* One opcode, then one byte read back (RDSR 05h, 35h, 15h, RDFSR 70h, ...). */
uint8_t raw_reg(struct spibus *bus, uint8_t op);
/* One CS period of tx bytes, nothing read. */
void raw_cmd(struct spibus *bus, const uint8_t *tx, size_t len);
void raw_op(struct spibus *bus, uint8_t op);
/* Poll 05h until WIP clears (10 us of chip time between polls, doubling up to 10 ms); fails
 * after 1000 s of chip time. */
void raw_wait_idle(struct spibus *bus);

/* READ 03h with a 3-byte address, or 13h with a 4-byte one. */
void raw_read3(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len);
void raw_read4(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len);

/* WREN, then op with a 3-byte (op4: 4-byte) address and data, then wait for WIP to clear. */
void raw_program(struct spibus *bus, uint8_t op, uint32_t addr, const uint8_t *data, size_t len,
		 unsigned addr_bytes);
void raw_erase(struct spibus *bus, uint8_t op, uint32_t addr, unsigned addr_bytes);
/* WREN, then the status write op with its data bytes, then wait. */
void raw_write_reg(struct spibus *bus, uint8_t op, const uint8_t *data, size_t len);

/*
 * WREN, then a one-byte page program of 0x00 at addr (3 or 4 address bytes) and one RDSR
 * right after it: returns that status byte (WIP|WEL set when the program was accepted,
 * both clear when protection refused it). Waits for the chip to be idle again.
 */
uint8_t raw_try_program(struct spibus *bus, uint32_t addr, unsigned addr_bytes);

/* RDSFDP 5Ah: len bytes from addr (3-byte address, one dummy byte). */
void raw_sfdp(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len);

#endif
