/*
 * bench_preprocess.c: decode + torchvision-style preprocessing of a 512x512
 * JPEG to the 3x224x224 input of an ImageNet model: Resize(256) with PIL's
 * antialiased bilinear ("pil_bilinear"), CenterCrop(224), ToTensor,
 * Normalize(ImageNet) ("resize_shorter_then_center_crop").  Prints ms per
 * image for the decode, the preprocessing alone and both, beside the older
 * resize methods with the same fit, and an EXIF-rotated decode.
 *
 *   make bench   or   ./bench/bin/bench_preprocess [-t seconds] [-o tensor.f32] [image.jpg]
 *
 * Without a file the input is a synthetic 512x512 RGB pattern encoded at
 * JPEG quality 90.  -o writes the preprocessed tensor (float32, CHW) so
 * bench/preprocess_compare.py can check it against torchvision's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "image/image.h"
#include "image/preprocess.h"

/* CPU seconds of this process: stable on a shared machine, where wall time is not. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* Run body for at least min_seconds of wall time; print wall and CPU ms per run. */
#define TIMED(label, min_seconds, body) do { \
	long n__ = 0; double w0__ = bench_now(), c0__ = cpu_now(), el__; \
	do { body; n__++; el__ = bench_now() - w0__; } while (el__ < (min_seconds)); \
	printf("%-58s %8.3f ms %8.3f ms\n", (label), el__ / n__ * 1e3, (cpu_now() - c0__) / n__ * 1e3); \
} while (0)

static void
die(const char *what, const sp_error *err)
{
	fprintf(stderr, "%s: %s %s\n", what, err->message, err->detail);
	exit(1);
}

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		perror(path);
		exit(1);
	}
	buf = malloc((size_t) n + 1);
	if (!buf || fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		perror(path);
		exit(1);
	}
	fclose(f);
	*len = (size_t) n;
	return buf;
}

int
main(int argc, char **argv)
{
	double		secs = 0.5;
	const char *dump = NULL;
	uint8_t    *jpg;
	size_t		len;
	sp_error	err;
	sp_image	img;
	sp_preprocess_spec spec;
	float	   *out;
	int			opt;
	static const float mean[3] = {0.485f, 0.456f, 0.406f},
				std[3] = {0.229f, 0.224f, 0.225f};

	while ((opt = getopt(argc, argv, "t:o:")) != -1)
	{
		if (opt == 't')
			secs = atof(optarg);
		else if (opt == 'o')
			dump = optarg;
		else
		{
			fprintf(stderr, "usage: %s [-t seconds] [-o tensor.f32] [image.jpg]\n", argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		jpg = read_file(argv[optind], &len);
	else
	{
		sp_image	src;

		bench_make_rgb(&src, 512, 512);
		if (sp_jpeg_encode(NULL, &src, 90, 0, &jpg, &len, &err) != SP_OK)
			die("encode", &err);
		free(src.pixels);
	}
	if (sp_image_decode(NULL, jpg, len, &img, &err) != SP_OK)
		die("decode", &err);

	sp_preprocess_spec_default(&spec);
	spec.channels = 3;
	spec.height = spec.width = 224;
	spec.resize = SP_RESIZE_PIL_BILINEAR;
	spec.fit = SP_FIT_SHORTER_CENTER_CROP;
	spec.resize_shorter = 256;
	memcpy(spec.mean, mean, sizeof(mean));
	memcpy(spec.std, std, sizeof(std));
	out = malloc(sizeof(float) * 3 * 224 * 224);

	printf("input: %s, %dx%d, %zu bytes; output 3x224x224 float32\n",
		   optind < argc ? argv[optind] : "synthetic JPEG q90", img.width, img.height, len);
	printf("%-58s %11s %11s\n", "per image", "wall", "cpu");
	TIMED("decode (libjpeg-turbo, islow, fancy upsampling)", secs, {
		sp_image	d;

		if (sp_image_decode(NULL, jpg, len, &d, &err) != SP_OK)
			die("decode", &err);
		sp_image_free(NULL, &d);
	});
	TIMED("preprocess pil_bilinear Resize(256)+CenterCrop(224)+Norm", secs, {
		if (sp_preprocess_image(&spec, &img, out, &err) != SP_OK)
			die("preprocess", &err);
		bench_consume(out);
	});
	TIMED("decode + preprocess (torchvision eval transform)", secs, {
		sp_image	d;

		if (sp_image_decode(NULL, jpg, len, &d, &err) != SP_OK)
			die("decode", &err);
		if (sp_preprocess_image(&spec, &d, out, &err) != SP_OK)
			die("preprocess", &err);
		bench_consume(out);
		sp_image_free(NULL, &d);
	});
	for (int m = 0; m < 2; m++)
	{
		sp_preprocess_spec s2 = spec;
		char		label[96];

		s2.resize = (sp_resize_method) m;
		snprintf(label, sizeof(label), "preprocess %s, same fit (no antialias / box)",
				 sp_resize_method_name(s2.resize));
		TIMED(label, secs, {
			if (sp_preprocess_image(&s2, &img, out, &err) != SP_OK)
				die("preprocess", &err);
			bench_consume(out);
		});
	}
	{
		/* the same JPEG with an EXIF orientation 6 (rotate 90 degrees) spliced in */
		static const uint8_t app1[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
			0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
		uint8_t    *rot = malloc(len + sizeof(app1));

		memcpy(rot, jpg, 2);
		memcpy(rot + 2, app1, sizeof(app1));
		memcpy(rot + 2 + sizeof(app1), jpg + 2, len - 2);
		TIMED("decode with EXIF orientation 6 (rotated copy)", secs, {
			sp_image	d;

			if (sp_image_decode(NULL, rot, len + sizeof(app1), &d, &err) != SP_OK)
				die("decode", &err);
			if (d.width != img.height)
				die("orientation not applied", &err);
			sp_image_free(NULL, &d);
		});
		free(rot);
	}
	if (dump)
	{
		FILE	   *f = fopen(dump, "wb");

		if (sp_preprocess_image(&spec, &img, out, &err) != SP_OK)
			die("preprocess", &err);
		if (!f || fwrite(out, sizeof(float), 3 * 224 * 224, f) != 3 * 224 * 224 || fclose(f) != 0)
		{
			perror(dump);
			return 1;
		}
	}
	free(out);
	sp_image_free(NULL, &img);
	if (optind < argc)
		free(jpg);
	else
		sp_free(NULL, jpg);
	return 0;
}
