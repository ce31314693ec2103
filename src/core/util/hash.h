/*
 * hash.h: content hashing of the core: SHA-256 from OpenSSL's libcrypto
 * (which the PostgreSQL server links already), hex encoding, and the one
 * definition of a model's content hash.
 */
#ifndef SP_HASH_H
#define SP_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SP_SHA256_LEN 32
#define SP_HASH_HEX_LEN 65		/* 64 hex digits + NUL */

/* SHA-256 of len bytes (FIPS 180-4). */
extern void sp_sha256(const void *data, size_t len, uint8_t out[SP_SHA256_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 chars, NUL-terminated). */
extern void sp_hex(const uint8_t *bytes, size_t n, char *out);

/*
 * A model's content hash, as 64 hex digits: SHA-256(SHA-256(config bytes) ||
 * SHA-256(weights bytes)).  The catalog stores it, the loader recomputes it,
 * and a name stays bound to it forever (docs/sql-models.md).
 */
extern void sp_model_content_hash(const void *config, size_t config_len,
								  const void *weights, size_t weights_len,
								  char out[SP_HASH_HEX_LEN]);

#endif							/* SP_HASH_H */
