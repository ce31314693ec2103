/*
 * test_embedding_binary.c: the embedding's binary form (vector/embedding_binary.c):
 * the exact bytes of a known value, each refusal, and reading no byte past
 * the embedding.
 */
#include "unit.h"

#include <string.h>

#include "vector/embedding_binary.h"

SP_TEST(emb_bin_known_bytes_round_trip)
{
	const float x[3] = {1.0f, 2.0f, -3.0f};
	const uint8_t want[16] = {0, 3, 0, 0, 0x3f, 0x80, 0, 0, 0x40, 0, 0, 0, 0xc0, 0x40, 0, 0};
	uint8_t		buf[20];
	float		back[3];
	sp_emb_bin_header h;

	CHECK_EQ_INT(SP_EMB_BIN_SIZE(3), 16);
	sp_emb_bin_write(x, 3, buf);
	CHECK(memcmp(buf, want, 16) == 0);
	/* trailing bytes are the caller's business: size says where the embedding ends */
	buf[16] = buf[17] = buf[18] = buf[19] = 0xff;
	REQUIRE(sp_emb_bin_read_header(buf, 20, 16000, &h) == SP_EMB_BIN_OK);
	CHECK_EQ_INT(h.dim, 3);
	CHECK_EQ_INT(h.size, 16);
	sp_emb_bin_values(buf, &h, back);
	CHECK(memcmp(back, x, sizeof x) == 0);
}

SP_TEST(emb_bin_refusals)
{
	const uint8_t neg[4] = {0xff, 0xfe, 0, 0};	/* -2 */
	const uint8_t big[4] = {0x00, 0x41, 0, 0};	/* 65 > 64 */
	const uint8_t zero[4] = {0, 0, 0, 0};
	const uint8_t resv[8] = {0, 1, 0, 7, 0, 0, 0, 0};
	const uint8_t shortv[11] = {0, 2, 0, 0, 1, 2, 3, 4, 5, 6, 7};
	sp_emb_bin_header h;

	CHECK_EQ_INT(sp_emb_bin_read_header(zero, 3, 64, &h), SP_EMB_BIN_SHORT_HEADER);
	CHECK_EQ_INT(sp_emb_bin_read_header(zero, 4, 64, &h), SP_EMB_BIN_BAD_DIM);
	CHECK_EQ_INT(sp_emb_bin_read_header(neg, 4, 64, &h), SP_EMB_BIN_BAD_DIM);
	CHECK_EQ_INT(h.dim, -2);
	CHECK_EQ_INT(sp_emb_bin_read_header(big, 4, 64, &h), SP_EMB_BIN_BAD_DIM);
	CHECK_EQ_INT(h.dim, 65);
	CHECK_EQ_INT(sp_emb_bin_read_header(resv, 8, 64, &h), SP_EMB_BIN_BAD_RESERVED);
	CHECK_EQ_INT(h.reserved, 7);
	CHECK_EQ_INT(sp_emb_bin_read_header(shortv, 11, 64, &h), SP_EMB_BIN_SHORT_VALUES);
	CHECK_EQ_INT(h.avail, 7);
	CHECK_EQ_INT(sp_emb_bin_read_header(shortv, 12 - 1, 64, &h), SP_EMB_BIN_SHORT_VALUES);
}
