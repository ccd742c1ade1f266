/* SPDX-License-Identifier: MIT */
/*
 * The chip database: every entry self-consistent, lookups exact, the parts the simulator
 * models carry their datasheet values, and docs/chipdb.md lists every entry.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chipdb.h"
#include "util.h"

#define SIM_SFDP_ONLY_ID 0xa5a518u /* reserved for the simulator's SFDP-only chip */

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static void check_srbit(const struct chip_info *c, uint8_t b, const char *what)
{
	if (!b)
		return;
	if (CHIP_SRBIT_REG(b) < 1 || CHIP_SRBIT_REG(b) > 4)
		fail_msg("%s: %s in register %u", c->name, what, CHIP_SRBIT_REG(b));
	if (CHIP_SRBIT_REG(b) == 4 && !(c->flags & (CHIP_F_CR_MX | CHIP_F_FR_ISSI)))
		fail_msg("%s: %s in a configuration register the part does not have", c->name,
			 what);
	if (CHIP_SRBIT_REG(b) == 2 && !(c->flags & CHIP_F_SR2))
		fail_msg("%s: %s in SR2, which the part does not read", c->name, what);
	if (CHIP_SRBIT_REG(b) == 3 && !(c->flags & (CHIP_F_SR3 | CHIP_F_SR3_33)))
		fail_msg("%s: %s in SR3, which the part does not read", c->name, what);
	if (CHIP_SRBIT_REG(b) == 1 && (c->protect.bp_mask & (1u << CHIP_SRBIT_POS(b))))
		fail_msg("%s: %s overlaps the BP mask", c->name, what);
}

static void check_entry(const struct chip_info *c)
{
	const struct chip_protect_layout *p = &c->protect;

	if (!c->name[0] || !c->vendor[0])
		fail_msg("entry 0x%06x without name or vendor", c->jedec_id);
	if (!c->datasheet || !c->datasheet[0])
		fail_msg("%s: no datasheet", c->name);
	if ((c->jedec_id >> 24) || (c->jedec_id >> 16) == 0 || (c->jedec_id >> 16) == 0xff)
		fail_msg("%s: implausible JEDEC ID 0x%06x", c->name, c->jedec_id);
	if (c->jedec_id == SIM_SFDP_ONLY_ID)
		fail_msg("%s: uses the simulator's reserved ID", c->name);
	if (!pow2(c->size) || c->size < 512u * 1024 || c->size > 64u * 1024 * 1024)
		fail_msg("%s: size %u", c->name, c->size);
	if (!pow2(c->page_size) || c->page_size > 512)
		fail_msg("%s: page size %u", c->name, c->page_size);
	if ((c->page_size == 1) != !!(c->flags & CHIP_F_SST_AAI))
		fail_msg("%s: 1-byte pages go with SST AAI and only with it", c->name);
	if (c->source != CHIP_SRC_DATABASE)
		fail_msg("%s: source %d", c->name, c->source);

	if (c->n_erase < 1 || c->n_erase > CHIP_MAX_ERASE_TYPES)
		fail_msg("%s: %u erase types", c->name, c->n_erase);
	for (unsigned i = 0; i < c->n_erase; i++) {
		const struct chip_erase_type *e = &c->erase[i];

		if (!pow2(e->size) || e->size < 4096 || c->size % e->size)
			fail_msg("%s: erase size %u", c->name, e->size);
		if (i && e->size <= c->erase[i - 1].size)
			fail_msg("%s: erase types not ascending", c->name);
		if (!e->opcode || e->opcode == 0xff)
			fail_msg("%s: erase opcode 0x%02x", c->name, e->opcode);
		if (e->opcode_4b && c->addr_mode == CHIP_ADDR_3B)
			fail_msg("%s: 4-byte erase opcode on a 3-byte part", c->name);
		if (!e->max_us || e->typ_us > e->max_us)
			fail_msg("%s: erase %u times %u/%u", c->name, e->size, e->typ_us,
				 e->max_us);
	}
	for (unsigned i = c->n_erase; i < CHIP_MAX_ERASE_TYPES; i++)
		if (c->erase[i].size)
			fail_msg("%s: erase slot %u used beyond n_erase", c->name, i);

	if (c->chip_erase_opcode != 0x60 && c->chip_erase_opcode != 0xc7)
		fail_msg("%s: chip erase opcode 0x%02x", c->name, c->chip_erase_opcode);
	if (!c->chip_erase_max_ms || c->chip_erase_typ_ms > c->chip_erase_max_ms)
		fail_msg("%s: chip erase times", c->name);
	if (c->page_program_typ_us > c->page_program_max_us ||
	    c->byte_program_typ_us > c->byte_program_max_us ||
	    c->write_status_typ_us > c->write_status_max_us)
		fail_msg("%s: program/WRSR typ > max", c->name);
	if (c->page_size > 1 && !c->page_program_max_us)
		fail_msg("%s: no page program time", c->name);
	if ((c->flags & CHIP_F_SST_AAI) && !c->byte_program_max_us)
		fail_msg("%s: AAI part without byte program time", c->name);

	if (!c->max_clock_hz || !c->max_read_clock_hz || c->max_read_clock_hz > c->max_clock_hz)
		fail_msg("%s: clocks %u/%u", c->name, c->max_clock_hz, c->max_read_clock_hz);
	if (c->voltage_min_mv < 1600 || c->voltage_max_mv > 3700 ||
	    c->voltage_min_mv >= c->voltage_max_mv)
		fail_msg("%s: voltage %u-%u mV", c->name, c->voltage_min_mv, c->voltage_max_mv);

	if (c->size > 16u * 1024 * 1024) {
		if (c->addr_mode == CHIP_ADDR_3B)
			fail_msg("%s: > 16 MiB but 3-byte only", c->name);
		if (c->addr_mode == CHIP_ADDR_3B_4B &&
		    !(c->flags & (CHIP_F_EN4B | CHIP_F_4B_OPCODES)))
			fail_msg("%s: no way into 4-byte addressing", c->name);
		if ((c->flags & CHIP_F_4B_OPCODES) && !c->erase[c->n_erase - 1].opcode_4b)
			fail_msg("%s: 4-byte opcodes but none for the largest erase", c->name);
	} else if (c->addr_mode != CHIP_ADDR_3B || (c->flags & (CHIP_F_EN4B | CHIP_F_4B_OPCODES))) {
		fail_msg("%s: <= 16 MiB but 4-byte addressing", c->name);
	}
	if ((c->flags & CHIP_F_EN4B_WREN) && !(c->flags & CHIP_F_EN4B))
		fail_msg("%s: EN4B_WREN without EN4B", c->name);
	if ((c->flags & CHIP_F_SR2_WRITE_31) && !(c->flags & CHIP_F_SR2))
		fail_msg("%s: SR2 write 0x31 without SR2", c->name);
	if ((c->flags & CHIP_F_EWSR) && !(c->flags & CHIP_F_SST_AAI))
		fail_msg("%s: EWSR outside the SST25 family", c->name);

	switch (p->scheme) {
	case CHIP_PROT_BP:
		if (!p->bp_mask || (p->bp_mask & ~0x7cu))
			fail_msg("%s: BP mask 0x%02x", c->name, p->bp_mask);
		if (!pow2(p->bp_unit) || p->bp_unit > c->size)
			fail_msg("%s: bp_unit %u", c->name, p->bp_unit);
		check_srbit(c, p->tb_bit, "TB");
		check_srbit(c, p->sec_bit, "SEC");
		check_srbit(c, p->cmp_bit, "CMP");
		check_srbit(c, p->srp0_bit, "SRP0");
		check_srbit(c, p->srp1_bit, "SRP1");
		check_srbit(c, p->wps_bit, "WPS");
		if (p->wps_bit && CHIP_SRBIT_REG(p->wps_bit) != 3)
			fail_msg("%s: WPS outside SR3", c->name);
		if (p->tb_otp && !p->tb_bit)
			fail_msg("%s: tb_otp without TB bit", c->name);
		if (p->tb_otp && CHIP_SRBIT_REG(p->tb_bit) == 1)
			fail_msg("%s: OTP TB in SR1", c->name);
		break;
	case CHIP_PROT_SST26:
		if (!(c->flags & CHIP_F_ULBPR) || p->bp_mask)
			fail_msg("%s: SST26 protection needs ULBPR and no BP bits", c->name);
		break;
	case CHIP_PROT_AT25_GLOBAL:
		if (p->bp_mask || c->size % (64u * 1024u))
			fail_msg("%s: AT25 global protection with BP bits or odd size", c->name);
		break;
	case CHIP_PROT_NONE:
		if (p->bp_mask)
			fail_msg("%s: BP mask without scheme", c->name);
		break;
	default:
		fail_msg("%s: protection scheme %d", c->name, p->scheme);
	}
}

static void every_entry_is_self_consistent(void **state)
{
	(void)state;
	for (size_t i = 0; i < chipdb_count(); i++)
		check_entry(chipdb_at(i));
}

static void names_and_ids_are_unique(void **state)
{
	size_t n = chipdb_count();

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			if (!strcasecmp(chipdb_at(i)->name, chipdb_at(j)->name))
				fail_msg("duplicate name %s", chipdb_at(i)->name);
			if (chipdb_at(i)->jedec_id == chipdb_at(j)->jedec_id)
				fail_msg("duplicate ID 0x%06x: %s, %s", chipdb_at(i)->jedec_id,
					 chipdb_at(i)->name, chipdb_at(j)->name);
		}
	}
}

static void coverage_parts_vendors_voltages_sizes(void **state)
{
	const char *vendors[32];
	size_t n_vendors = 0, n = chipdb_count();
	bool v18 = false, v33 = false, s512k = false, s64m = false;

	(void)state;
	assert_true(n >= 60);
	for (size_t i = 0; i < n; i++) {
		const struct chip_info *c = chipdb_at(i);
		size_t k;

		for (k = 0; k < n_vendors; k++)
			if (!strcmp(vendors[k], c->vendor))
				break;
		if (k == n_vendors && n_vendors < ARRAY_SIZE(vendors))
			vendors[n_vendors++] = c->vendor;
		v18 |= c->voltage_max_mv <= 2100;
		v33 |= c->voltage_min_mv >= 2300 && c->voltage_max_mv >= 3600;
		s512k |= c->size == 512u * 1024;
		s64m |= c->size == 64u * 1024 * 1024;
	}
	assert_true(n_vendors >= 13);
	assert_true(v18);
	assert_true(v33);
	assert_true(s512k);
	assert_true(s64m);
}

static void lookup_by_id_is_exact(void **state)
{
	(void)state;
	for (size_t i = 0; i < chipdb_count(); i++)
		assert_ptr_equal(chipdb_lookup(chipdb_at(i)->jedec_id), chipdb_at(i));
	assert_null(chipdb_lookup(0));
	assert_null(chipdb_lookup(0xffffff));
	assert_null(chipdb_lookup(SIM_SFDP_ONLY_ID));
	assert_null(chipdb_lookup(0x01ef4018)); /* extra high byte is not ignored */
	assert_null(chipdb_lookup(0xef4017 ^ 0x000100));
	assert_null(chipdb_at(chipdb_count()));
}

static void find_name_case_insensitive(void **state)
{
	const struct chip_info *w = chipdb_lookup(0xef4018);

	(void)state;
	assert_non_null(w);
	assert_string_equal(w->name, "W25Q128JV");
	assert_ptr_equal(chipdb_find_name("W25Q128JV"), w);
	assert_ptr_equal(chipdb_find_name("w25q128jv"), w);
	assert_ptr_equal(chipdb_find_name("mx25l12835f"), chipdb_lookup(0xc22018));
	/* the FV is an alias in the comment, not a name: its limits differ */
	assert_null(chipdb_find_name("W25Q128FV"));
	assert_null(chipdb_find_name("W25Q128"));
	assert_null(chipdb_find_name("W25Q128JVX"));
	assert_null(chipdb_find_name(""));
	assert_null(chipdb_find_name(NULL));
}

static void name_matches_base_and_alternatives(void **state)
{
	(void)state;
	assert_true(chipdb_name_matches("W25Q128JV/FV", "W25Q128JV/FV"));
	assert_true(chipdb_name_matches("W25Q128JV/FV", "w25q128jv/fv"));
	assert_true(chipdb_name_matches("W25Q128JV/FV", "W25Q128JV"));
	assert_true(chipdb_name_matches("W25Q128JV/FV", "w25q128fv"));
	assert_true(chipdb_name_matches("MX25L6433F/6436F", "MX25L6436F"));
	assert_true(chipdb_name_matches("A/B/C", "C"));
	assert_false(chipdb_name_matches("W25Q128JV/FV", "FV"));
	assert_false(chipdb_name_matches("W25Q128JV/FV", "W25Q128"));
	assert_false(chipdb_name_matches("W25Q128JV/FV", "W25Q128JVFV"));
	assert_false(chipdb_name_matches("W25Q128JV", "W25Q128JV/FV"));
	assert_false(chipdb_name_matches(NULL, "x"));
	assert_false(chipdb_name_matches("x", NULL));
}

/* The ten parts the simulator models: present under the expected name. */
static void simulator_parts_present(void **state)
{
	static const struct {
		uint32_t id;
		const char *name;
		uint32_t mib;
	} parts[] = {
	    {0xef4018, "W25Q128JV", 16},   {0xef4019, "W25Q256JV", 32},
	    {0xc22018, "MX25L12835F", 16}, {0xc22019, "MX25L25645G", 32},
	    {0xc84017, "GD25Q64C", 8},	   {0xbf2541, "SST25VF016B", 2},
	    {0xbf2643, "SST26VF064B", 8},  {0x9d7019, "IS25WP256D", 32},
	    {0x20ba19, "MT25QL256", 32},   {0xef4020, "W25Q512JV", 64},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		const struct chip_info *c = chipdb_lookup(parts[i].id);

		if (!c)
			fail_msg("0x%06x (%s) missing", parts[i].id, parts[i].name);
		if (strncasecmp(c->name, parts[i].name, strlen(parts[i].name)))
			fail_msg("0x%06x is %s, want %s", parts[i].id, c->name, parts[i].name);
		assert_int_equal(c->size, parts[i].mib << 20);
	}
}

static void w25q128jv_datasheet_values(void **state)
{
	const struct chip_info *c = chipdb_lookup(0xef4018);

	(void)state;
	assert_int_equal(c->page_size, 256);
	assert_int_equal(c->page_program_typ_us, 400);
	assert_int_equal(c->page_program_max_us, 3000);
	assert_int_equal(c->n_erase, 3);
	assert_int_equal(c->erase[0].size, 4096);
	assert_int_equal(c->erase[0].opcode, 0x20);
	assert_int_equal(c->erase[0].typ_us, 45000);
	assert_int_equal(c->erase[0].max_us, 400000);
	assert_int_equal(c->erase[1].size, 32768);
	assert_int_equal(c->erase[1].opcode, 0x52);
	assert_int_equal(c->erase[1].typ_us, 120000);
	assert_int_equal(c->erase[1].max_us, 1600000);
	assert_int_equal(c->erase[2].size, 65536);
	assert_int_equal(c->erase[2].opcode, 0xd8);
	assert_int_equal(c->erase[2].typ_us, 150000);
	assert_int_equal(c->erase[2].max_us, 2000000);
	assert_int_equal(c->chip_erase_typ_ms, 40000);
	assert_int_equal(c->chip_erase_max_ms, 200000);
	assert_int_equal(c->write_status_typ_us, 10000);
	assert_int_equal(c->write_status_max_us, 15000);
	assert_int_equal(c->max_read_clock_hz, 50000000);
	assert_int_equal(c->max_clock_hz, 133000000);
	assert_int_equal(c->addr_mode, CHIP_ADDR_3B);
	assert_int_equal(c->protect.scheme, CHIP_PROT_BP);
	assert_int_equal(c->protect.bp_mask, 0x1c);
	assert_int_equal(c->protect.tb_bit, CHIP_SRBIT(1, 5));
	assert_int_equal(c->protect.sec_bit, CHIP_SRBIT(1, 6));
	assert_int_equal(c->protect.cmp_bit, CHIP_SRBIT(2, 6));
	assert_int_equal(c->protect.bp_unit, 256u * 1024);
}

static void sst26vf064b_only_uniform_4k_and_ulbpr(void **state)
{
	const struct chip_info *c = chipdb_lookup(0xbf2643);

	(void)state;
	assert_int_equal(c->n_erase, 1);
	assert_int_equal(c->erase[0].size, 4096);
	assert_int_equal(c->erase[0].opcode, 0x20);
	assert_true(c->chip_erase_opcode != 0);
	assert_int_equal(c->protect.scheme, CHIP_PROT_SST26);
	assert_true(c->flags & CHIP_F_ULBPR);
	for (size_t i = 0; i < chipdb_count(); i++) {
		const struct chip_info *e = chipdb_at(i);

		if (e->protect.scheme != CHIP_PROT_SST26)
			continue;
		for (unsigned k = 0; k < e->n_erase; k++)
			if (e->erase[k].opcode == 0xd8)
				fail_msg("%s lists the non-uniform 0xD8 erase", e->name);
	}
}

static void sst25vf016b_byte_program_aai_ewsr(void **state)
{
	const struct chip_info *c = chipdb_lookup(0xbf2541);

	(void)state;
	assert_int_equal(c->page_size, 1);
	assert_int_equal(c->flags & (CHIP_F_SST_AAI | CHIP_F_EWSR), CHIP_F_SST_AAI | CHIP_F_EWSR);
	assert_int_equal(c->byte_program_typ_us, 7);
	assert_int_equal(c->byte_program_max_us, 10);
	assert_int_equal(c->erase[0].typ_us, 18000);
	assert_int_equal(c->erase[0].max_us, 25000);
	assert_int_equal(c->chip_erase_typ_ms, 35);
	assert_int_equal(c->chip_erase_max_ms, 50);
}

static void big_parts_addressing(void **state)
{
	const struct chip_info *mt = chipdb_lookup(0x20ba19);
	const struct chip_info *is = chipdb_lookup(0x9d7019);
	const struct chip_info *w512 = chipdb_lookup(0xef4020);
	const struct chip_info *mx = chipdb_lookup(0xc22019);

	(void)state;
	/* Micron: EN4B needs WREN, flag status register polled */
	assert_int_equal(mt->flags &
			     (CHIP_F_EN4B | CHIP_F_EN4B_WREN | CHIP_F_FSR | CHIP_F_4B_OPCODES),
			 CHIP_F_EN4B | CHIP_F_EN4B_WREN | CHIP_F_FSR | CHIP_F_4B_OPCODES);
	assert_int_equal(mt->protect.bp_mask, 0x5c);
	/* ISSI: 4-byte opcodes; its EX4B is 0x29, so no EN4B */
	assert_true(is->flags & CHIP_F_4B_OPCODES);
	assert_false(is->flags & CHIP_F_EN4B);
	assert_int_equal(is->voltage_max_mv, 1950);
	assert_int_equal(w512->addr_mode, CHIP_ADDR_3B_4B);
	assert_int_equal(w512->erase[0].opcode_4b, 0x21);
	assert_int_equal(w512->erase[2].opcode_4b, 0xdc);
	assert_true(mx->flags & CHIP_F_CR_MX);
	assert_true(mx->protect.tb_otp);
	assert_int_equal(mx->protect.tb_bit, CHIP_SRBIT(4, 3)); /* CR bit 3 */
	assert_int_equal(mx->erase[1].opcode_4b, 0x5c);
}

/*
 * Old Macronix parts share IDs with current ones but erase 64 KiB with 0x20 (MX25L1605,
 * MX25L3205, MX25L6405) or with 0x52 (MX25L1606E, MX25L3206E): those entries list only the
 * 0xD8 64 KiB erase, so no erase ever wipes more than the engine thinks.
 */
static void shared_macronix_ids_list_only_safe_erase(void **state)
{
	static const uint32_t ids[] = {0xc22015, 0xc22016, 0xc22017};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		const struct chip_info *c = chipdb_lookup(ids[i]);

		assert_non_null(c);
		assert_int_equal(c->n_erase, 1);
		assert_int_equal(c->erase[0].size, 65536);
		assert_int_equal(c->erase[0].opcode, 0xd8);
	}
}

static void docs_table_lists_every_part(void **state)
{
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	char path[4096], *doc = NULL;
	size_t cap = 0;
	FILE *f;
	ssize_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/docs/chipdb.md", root ? root : ".");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	n = getdelim(&doc, &cap, '\0', f);
	fclose(f);
	assert_true(n > 0);
	for (size_t i = 0; i < chipdb_count(); i++) {
		const struct chip_info *c = chipdb_at(i);
		char row[96];

		snprintf(row, sizeof(row), "| %s | %s | %06x |", c->name, c->vendor, c->jedec_id);
		if (!strstr(doc, row))
			fail_msg("docs/chipdb.md has no row starting \"%s\"", row);
	}
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_entry_is_self_consistent),
	    cmocka_unit_test(names_and_ids_are_unique),
	    cmocka_unit_test(coverage_parts_vendors_voltages_sizes),
	    cmocka_unit_test(lookup_by_id_is_exact),
	    cmocka_unit_test(find_name_case_insensitive),
	    cmocka_unit_test(name_matches_base_and_alternatives),
	    cmocka_unit_test(simulator_parts_present),
	    cmocka_unit_test(w25q128jv_datasheet_values),
	    cmocka_unit_test(sst26vf064b_only_uniform_4k_and_ulbpr),
	    cmocka_unit_test(sst25vf016b_byte_program_aai_ewsr),
	    cmocka_unit_test(big_parts_addressing),
	    cmocka_unit_test(shared_macronix_ids_list_only_safe_erase),
	    cmocka_unit_test(docs_table_lists_every_part),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
