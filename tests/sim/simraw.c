/* SPDX-License-Identifier: MIT */
#include "simraw.h"

#include "harness.h"

#include <string.h>

#include "clock.h"
#include "spibus.h"
#include "util.h"

uint8_t raw_reg(struct spibus *bus, uint8_t op)
{
	uint8_t v = 0xAA;

	assert_int_equal(spibus_cmd(bus, &op, 1, &v, 1), 0);
	return v;
}

void raw_cmd(struct spibus *bus, const uint8_t *tx, size_t len)
{
	assert_int_equal(spibus_cmd(bus, tx, len, NULL, 0), 0);
}

void raw_op(struct spibus *bus, uint8_t op)
{
	raw_cmd(bus, &op, 1);
}

void raw_wait_idle(struct spibus *bus)
{
	uint64_t step = 10 * NSEC_PER_USEC, waited = 0;

	/* 10 us between polls, doubling up to 10 ms: a chip erase takes minutes of chip time */
	while ((raw_reg(bus, 0x05) & 1) && waited < 1000 * NSEC_PER_SEC) {
		fclock_sleep_ns(spibus_clock(bus), step);
		waited += step;
		step = MIN(step * 2, 10 * NSEC_PER_MSEC);
	}
	assert_int_equal(raw_reg(bus, 0x05) & 1, 0);
}

static size_t put_addr(uint8_t *p, uint32_t addr, unsigned addr_bytes)
{
	for (unsigned i = 0; i < addr_bytes; i++)
		p[i] = (uint8_t)(addr >> (8 * (addr_bytes - 1 - i)));
	return addr_bytes;
}

void raw_read3(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len)
{
	uint8_t hdr[4] = {0x03};

	put_be24(hdr + 1, addr);
	assert_int_equal(spibus_cmd(bus, hdr, 4, buf, len), 0);
}

void raw_read4(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len)
{
	uint8_t hdr[5] = {0x13};

	put_addr(hdr + 1, addr, 4);
	assert_int_equal(spibus_cmd(bus, hdr, 5, buf, len), 0);
}

void raw_program(struct spibus *bus, uint8_t op, uint32_t addr, const uint8_t *data, size_t len,
		 unsigned addr_bytes)
{
	uint8_t buf[5 + 512];
	size_t n = 1;

	assert_true(len <= 512);
	buf[0] = op;
	n += put_addr(buf + 1, addr, addr_bytes);
	memcpy(buf + n, data, len);
	raw_op(bus, 0x06);
	raw_cmd(bus, buf, n + len);
	raw_wait_idle(bus);
}

void raw_erase(struct spibus *bus, uint8_t op, uint32_t addr, unsigned addr_bytes)
{
	uint8_t buf[5] = {op};

	raw_op(bus, 0x06);
	raw_cmd(bus, buf, 1 + put_addr(buf + 1, addr, addr_bytes));
	raw_wait_idle(bus);
}

void raw_write_reg(struct spibus *bus, uint8_t op, const uint8_t *data, size_t len)
{
	uint8_t buf[8] = {op};

	assert_true(len < sizeof(buf));
	memcpy(buf + 1, data, len);
	raw_op(bus, 0x06);
	raw_cmd(bus, buf, 1 + len);
	raw_wait_idle(bus);
}

uint8_t raw_try_program(struct spibus *bus, uint32_t addr, unsigned addr_bytes)
{
	uint8_t buf[6] = {addr_bytes == 4 ? 0x12 : 0x02};
	size_t n = 1 + put_addr(buf + 1, addr, addr_bytes);
	uint8_t sr;

	buf[n++] = 0x00;
	raw_op(bus, 0x06);
	raw_cmd(bus, buf, n);
	sr = raw_reg(bus, 0x05);
	raw_wait_idle(bus);
	return sr;
}

void raw_sfdp(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len)
{
	uint8_t hdr[5] = {0x5A};

	put_be24(hdr + 1, addr);
	assert_int_equal(spibus_cmd(bus, hdr, 5, buf, len), 0);
}
