-- ImageNet-P perturbation sequences from SQL: listing, frame counts per
-- profile, clean frame 0 of the noise sequences, determinism, md5 of frames
-- for fixed seeds (any change in bytes shows up here), error paths, NULLs.
SET search_path = siamese, public;

-- The 32x32 RGB fixture of corrupt.sql and its 4x3 gray one.
CREATE TEMP TABLE pfixture (name text, img bytea);
INSERT INTO pfixture VALUES
  ('rgb32', decode('89504e470d0a1a0a0000000d4948445200000020000000200802000000fc18eda3000007d84944415478da95d4310bb26ea306f0f7e3fc171717971b5113b174103388306a1034880872b88702c9a006c1021125871b54109194bc075d5cfc2eefe738c1bb1c38e7709e07aef9fa4dd7f5af7f0024804b029f023100290b4a01d4126815d02ec077053e1b501800ed407800de093810d817605dc1fa0ee61e98bdc02404f41b0004400ee81270359862a0f6401f803982d3bffe6120c1b824e3534c0c9894654a81a925a6559876c17c57cc67c3140683764c7860bc13e340c6be30d69559df99b9c7cc5ecc2464e83703100372862e19ae66a698517b461f1873647e000f09de25799fe263c0a72c5f0a7c2df1adc2b70bfebbe23f1bbe3078b4e3c303ef9d7807f2f685b7aefcfacecf3d7ef6e227214fbf79807890f374c973353fc5bcdaf3fac09b23ff034448882e29fa9418033165c552106b496c15b15d88df95f8d9888521a29d181e44ef243a50b42fa27515d77771ee89b397380945fa2d0224825ca44b91abc52916d55ed407d11cc51f2043427649d9a7e418c8292b97825c4b72abc8ed42feaee4cf462e0c19ede4f0207b27d981b27d91adabbcbecb734f9ebde44928d36f192019e4325dca5c2d4fb1acf6b23ec8e628ff0005128a4b2a3ea5c4404959a514945a525a456917ca77a57c364a612868a78407c53b290e54ec8b625d95f55d997bcaeca54c42857e2b00292057e852e16a658a15b557f4413147e5076890d05c52f3292d065aca6aa5a0d592d62a5abbd0be2bedb3d10a43433b2d3c68de4973a0665f34ebaaadefdadcd3662f6d126af45b034803b946971a576b53aca9bda60f9a396a3f600989a54b2e7d6a198365ca2e4b61594bcb5659b68be577b5fc6c9685b144ffc6fffccf78cbd96b390997f47b09d012e44bba5c72f5728a976abfd487a5392e7f800e09dd25759fd263a0a7ac5e0a7a2de9ada2b70bfdbbd23fff6bf57f4fa8d36f1d201de43a5dea5cad4fb1aef6ba3ee8e6a8ff802d24b62eb9f5a96d0cb629bb2d856d2d6d5b65db2eb6dfffb7fd3f796f01da827c4b975baede4ef156edb7fab035c7ed0f302061b8a4e153460c8c94354ac1a825a3558c7661fc31f0dbba0172832e0dae36a6d8507b431f0c73347e800509cb252d9fb26260a5ac550a562d59ad62b57fd8fe9f200be4165d5a5c6d4db1a5f6963e58e668fd803d24f62eb9f7a97d0cf629bb2f857d2ded5b65ff97c01ee47bbadc73f57e8af76abfd787bd39ee7fc0111247973cfad43106c7943d96c2b1968ead72fc4be008f2235d1eb9fa38c547b53feac3d11c8f3fc08684ed92b64fd931b053d62e05bb96ec56b1ff12b0416ed3a5cdd5f614db6a6feb836d8ef60f8090802e097d0ac600a62c2c05584bb055e05f0210e4902e2157c329866a0ff5019a23fc0167489c5df2ec53e7189c53f65c0ae75a3ab7caf92f8133c8cf7479e6eaf3149fd5feac0f67733cff0007128e4b3a3ee5c4c04959a7149c5a725ac5f94bc001b943970e573b53eca8bda30f8e393a3fe006899b4bde7cea16835bcade4ae1564bb756b9b58bdb1fefe006d00de437babc71f56d8a6f6a7fd3879b39de7ec003120f977cf8d423068f947d94c2a3961eadf268178f3f061e003d40fea0cb07573fa6f8a1f60f7d7898e3e3077890f05cd2f3292f065eca7aa5e0d592d72a5ebbf0be2bef0fbec8a3df1e401ec83dbaf4b8da9b624fed3d7df0ccd1fb014f483c5df2e953cf183c53f6590acf5a7ab6cab35d3cbfabe767f32c8ce7fff1a6cfd9eb39099ff4fb09d013e44fba7c72f5738a9f6affd487a7393e7f400089c025039f0a6210a46c500a412d05ad12b48be0bb0a3e9ba03002b40bc243e09d020706f625b0aec1fa1eccbd60f60a266140bf03800290077419707530c581da07fa109863f0032248442e19f95414832865a352886a296a95a85d44df55f4d9448511a15d141e22ef143930b22f91758dd6f768ee45b357340923fa1d0114813ca2cb88aba3298ed43ed287c81ca31f90402271c9c4a7921824299b9442524b49ab24ed22f9ae92cf26298c04ed92f09078a7c481897d49ac6bb2be27732f99bd924998d0ef04a004e4095d265c9d4c71a2f6893e24e698fc000409e492c8a7500c50caa25240b5845a05b50bf45da1cf061506423b141e9077420e44f6055957b4bea3b987662f340911fd4600219023ba445c8da618a93dd207648ee8076490c85c32f3a92c0659ca66a590d552d62a59bbc8beabecb3c90a2343bb2c3c64de297360665f32eb9aadefd9dccb66af6c1266f43b032803794697195767539ca97da60f9939663fa08044e192854f15312852b62885a2968a5629da45f15d159f4d511805da15e1a1f04e85030bfb5258d7627d2fe65e317b1593b0a0df054005c80bba2cb8ba98e242ed0b7d28ccb1f80115242a97ac7caa8a4195b2552954b554b54ad52eaaefaafa6caac2a8d0ae0a0f9577aa1c58d997caba56eb7b35f7aad9ab9a8415fdae00aa405ed165c5d5d514576a5fe943658ed50f6820d1b864e3534d0c9a946d4aa1a9a5a6559a76d17c57cd67d3144683764d7868bc53e3c0c6be34d6b559df9bb9d7cc5ecd246ce877035003f2862e1bae6ea6b851fb461f1a736c7e0086047649ec53380638657129e05ac2ad82db05feaef067830b03a31d0e0fd83b610762fb82ad2b5edff1dcc3b3179e84987e638030c8315d62aec6538cd51eeb033647fc033a48742ed9f95417832e65bb52e86aa96b95ae5d74df55f7d97485d1a15d171e3aefd439b0b32f9d75edd6f76eee75b35737093bfadd01d481bca3cb8eabbb29eed4bed387ce1cbbd37f013301e559f2db51610000000049454e44ae426082', 'hex')),
  ('gray4x3', decode('89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b0770000000049454e44ae426082', 'hex'));

SELECT * FROM perturbations();
SELECT kind, noise, count(*) FROM perturbations() GROUP BY 1, 2 ORDER BY 1, 2;

-- Frame counts from SQL: 32 px picks cifar (motion_blur 21, translate 16).
SELECT p.name, count(*) AS frames, min(f.frame) AS first, max(f.frame) AS last,
       count(*) = p.frames_cifar AS matches_listing
FROM perturbations() p, pfixture x, LATERAL perturbation_frames(x.img, p.name) f
WHERE x.name = 'rgb32'
GROUP BY p.name, p.frames_cifar ORDER BY p.name;

-- Forcing a profile changes the frame count.
SELECT profile, count(*) AS translate_frames
FROM unnest(ARRAY['cifar', 'tiny', 'imagenet', 'Auto']) profile, pfixture x,
     LATERAL perturbation_frames(x.img, 'translate', 0, profile) f
WHERE x.name = 'rgb32' GROUP BY profile ORDER BY 2, 1;

-- Every frame keeps the size and channel count, gray included.
SELECT x.name, bool_and(i.width = w AND i.height = h AND i.channels = c) AS size_kept, count(*) AS frames
FROM pfixture x
  JOIN (VALUES ('rgb32', 32, 32, 3), ('gray4x3', 4, 3, 1)) AS d(n, w, h, c) ON d.n = x.name,
  perturbations() p, LATERAL perturbation_frames(x.img, p.name, 1) f,
  LATERAL image_info(f.image) i
GROUP BY x.name ORDER BY x.name;

-- Noise sequences: frame 0 is the clean image; later frames are independent draws.
SELECT p.name,
       bool_and(to_png(f.image) = to_png(x.img)) FILTER (WHERE f.frame = 0) AS frame0_clean,
       count(DISTINCT f.image) AS distinct_frames
FROM perturbations() p, pfixture x, LATERAL perturbation_frames(x.img, p.name, 5) f
WHERE p.noise AND x.name = 'rgb32'
GROUP BY p.name ORDER BY p.name;

-- Identity frames of temporal sequences (CIFAR-P): translate 7, rotate/tilt/shear/scale 15, zoom_blur 0.
SELECT p.name, f.frame, to_png(f.image) = to_png(x.img) AS is_clean
FROM (VALUES ('translate', 7), ('rotate', 15), ('tilt', 15), ('shear', 15), ('scale', 15),
             ('zoom_blur', 0)) AS p(name, frame),
     pfixture x, LATERAL perturbation_frames(x.img, p.name) f
WHERE x.name = 'rgb32' AND f.frame = p.frame ORDER BY p.name;

-- Same seed, same bytes; another seed or difficulty changes noise frames only.
SELECT p.name,
       (SELECT md5(string_agg(md5(image), '' ORDER BY frame)) FROM perturbation_frames(x.img, p.name, 42))
     = (SELECT md5(string_agg(md5(image), '' ORDER BY frame)) FROM perturbation_frames(x.img, p.name, 42)) AS same_seed,
       (SELECT md5(string_agg(md5(image), '' ORDER BY frame)) FROM perturbation_frames(x.img, p.name, 42))
    <> (SELECT md5(string_agg(md5(image), '' ORDER BY frame)) FROM perturbation_frames(x.img, p.name, 43)) AS other_seed_differs,
       (SELECT md5(string_agg(md5(image), '' ORDER BY frame)) FROM perturbation_frames(x.img, p.name, 42, 'auto', 1))
    <> (SELECT md5(string_agg(md5(image), '' ORDER BY frame)) FROM perturbation_frames(x.img, p.name, 42, 'auto', 3)) AS difficulty_differs
FROM perturbations() p, pfixture x WHERE x.name = 'rgb32' ORDER BY p.name;

-- Byte-exact frames (first 10 hex digits of md5) for seed 7: frames 1, 5 and the last.
SELECT p.name, string_agg(left(md5(f.image), 10), ' ' ORDER BY f.frame) AS md5_frames
FROM perturbations() p, pfixture x, LATERAL perturbation_frames(x.img, p.name, 7) f
WHERE x.name = 'rgb32' AND f.frame IN (1, 5, p.frames_cifar - 1)
GROUP BY p.name ORDER BY p.name;
-- ... and the noise sequences, the ones difficulty changes, at difficulties 2
-- and 3 (their parameter tables): frames 1 and the last.
SELECT p.name, d AS difficulty, string_agg(left(md5(f.image), 10), ' ' ORDER BY f.frame) AS md5_frames
FROM perturbations() p, pfixture x, generate_series(2, 3) d,
     LATERAL perturbation_frames(x.img, p.name, 7, 'auto', d) f
WHERE x.name = 'rgb32' AND p.name LIKE '%noise' AND f.frame IN (1, p.frames_cifar - 1)
GROUP BY p.name, d ORDER BY p.name, d;
SELECT left(md5(image), 10) AS tiny_rotate_frame3
FROM pfixture x, perturbation_frames(x.img, 'rotate', 0, 'tiny') f
WHERE x.name = 'rgb32' AND f.frame = 3;

-- Errors: unknown perturbation, difficulty, profile, bad image.
SELECT * FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), 'frost');
SELECT * FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), 'rotate', 0, 'auto', 0);
SELECT * FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), 'rotate', 0, 'auto', 4);
SELECT * FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), 'rotate', 0, 'huge');
SELECT * FROM perturbation_frames('\x00010203'::bytea, 'rotate');
SELECT * FROM perturbation_frames(''::bytea, 'rotate');

-- NULL in, no rows.
SELECT count(*) FROM perturbation_frames(NULL, 'rotate');
SELECT count(*) FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), NULL);
SELECT count(*) FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), 'rotate', NULL);
SELECT count(*) FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), 'rotate', 0, NULL);
SELECT count(*) FROM perturbation_frames((SELECT img FROM pfixture WHERE name = 'rgb32'), 'rotate', 0, 'auto', NULL);

-- Called in the select list the SRF streams: a LIMIT stops it after 3 frames.
SELECT (f).frame, (image_info((f).image)).width
FROM (SELECT perturbation_frames(img, 'zoom_blur') AS f FROM pfixture WHERE name = 'rgb32' LIMIT 3) s;
