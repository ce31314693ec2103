-- siamese.* configuration parameters: defaults, validation, effect.
-- GUCs exist once the library is loaded (any siamese function loads it;
-- shared_preload_libraries makes them known at server start).
LOAD 'siamese_pg';
SET search_path = siamese, public;

SHOW siamese.image.max_pixels;
SET siamese.image.max_pixels = 0;            -- below the minimum
SET siamese.image.max_pixels = 1000000000;   -- above the hard ceiling
SET siamese.image.max_pixels = 4;
SHOW siamese.image.max_pixels;
RESET siamese.image.max_pixels;

SHOW siamese.distance.isa;
SET siamese.distance.isa = 'scalar';
SELECT distance_isa();
SELECT '[1,2,3]'::embedding <-> '[4,6,3]'::embedding AS l2_scalar;
SET siamese.distance.isa = 'sse9';            -- unknown name
RESET siamese.distance.isa;
SELECT '[1,2,3]'::embedding <-> '[4,6,3]'::embedding AS l2_auto;

-- siamese.nn.isa: the convolution kernels; a cached model follows a change
-- within the session (im2col rounds differently from the direct kernels),
-- and every path gives the same embedding to ~1e-6.
SHOW siamese.nn.isa;
CREATE TEMP TABLE guc_img AS SELECT decode('89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000020406080a0c0e0000424446484a4c4e4000828486888a8c8e8000c2c4c6c8cacccec001030507090b0d0f0001434547494b4d4f4001838587898b8d8f8001c3c5c7c9cbcdcfc15441f812b73f7650000000049454e44ae426082', 'hex') AS img;
CREATE TEMP TABLE guc_emb AS SELECT 'auto' AS isa, embed(img, 'fashion') AS e FROM guc_img;
SET siamese.nn.isa = 'scalar';
INSERT INTO guc_emb SELECT 'scalar', embed(img, 'fashion') FROM guc_img;
SET siamese.nn.isa = 'avx9';                  -- unknown name
RESET siamese.nn.isa;
INSERT INTO guc_emb SELECT 'auto again', embed(img, 'fashion') FROM guc_img;
SELECT a.isa, b.isa, (a.e <-> b.e) < 1e-5 AS same, a.e = b.e AS bitwise FROM guc_emb a, guc_emb b WHERE a.isa < b.isa ORDER BY 1, 2;

-- siamese.nn.model_cache_size bounds the models a backend keeps: at 1 MB only
-- the model in use stays, and embedding with another one still works.
SHOW siamese.nn.model_cache_size;
SELECT dims(embed(img, 'fashion')) FROM guc_img;
SELECT dims(embed(img, 'fashion-2d')) FROM guc_img;
SELECT name, bytes > 0 AS sized FROM model_cache() ORDER BY last_used DESC;
SET siamese.nn.model_cache_size = '1MB';
SELECT dims(embed(img, 'fashion-pixels')) FROM guc_img;
SELECT name FROM model_cache();
SELECT dims(embed(img, 'fashion')) FROM guc_img;
SELECT name FROM model_cache();
RESET siamese.nn.model_cache_size;

-- The siamese. prefix is reserved: typos are errors, not silently new settings.
SET siamese.no_such_setting = 1;
