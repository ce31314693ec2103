/*
 * bench_codec.c: decode and encode speed of the PNG and JPEG codecs for the
 * two image shapes the project cares about: 28x28 gray (Fashion-MNIST) and
 * 224x224 RGB (ImageNet crops).  Images are a smooth, natural-looking
 * pattern plus seeded noise, so compressed sizes are realistic.  MB/s is
 * measured on decoded pixel bytes (width * height * channels).
 *
 *   make bench   or   ./bench/bin/bench_codec [seconds-per-case]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "image/image.h"

static void
fill(sp_image *img, uint64_t seed)
{
	uint64_t	s = seed * 0x9E3779B97F4A7C15ull + 1;

	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width; x++)
			for (int c = 0; c < img->channels; c++)
			{
				double		fx = (double) x / img->width,
							fy = (double) y / img->height;
				double		v = 120 + 60 * sin(5.0 * fx + 1.7 * c) * cos(3.0 * fy - 0.5 * c)
					+ 35 * sin(11.0 * (fx * fy + fx)) + 20 * cos(23.0 * fy);
				int			n;

				s ^= s >> 12;
				s ^= s << 25;
				s ^= s >> 27;
				n = (int) ((s * 0x2545F4914F6CDD1Dull) >> 59) - 16;	/* -16..15 */
				v += n / 2.0;
				img->pixels[((size_t) y * img->width + x) * img->channels + c] =
					(uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
			}
}

static void
die(const char *what, const sp_error *err)
{
	fprintf(stderr, "%s: %s %s\n", what, err->message, err->detail);
	exit(1);
}

typedef struct
{
	const char *label;
	int			w,
				h,
				c;
} shape;

int
main(int argc, char **argv)
{
	double		secs = argc > 1 ? atof(argv[1]) : 0.4;
	static const shape shapes[] = {{"28x28 gray", 28, 28, 1}, {"224x224 RGB", 224, 224, 3}};

	printf("image codec speed (single thread, %.1f s per case; MB/s of decoded pixels)\n\n", secs);
	printf("%-12s %-14s %10s %12s %10s\n", "image", "operation", "file bytes", "images/s", "MB/s");
	printf("%-12s %-14s %10s %12s %10s\n", "------------", "--------------", "----------", "------------", "----------");
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
	{
		const shape *sh = &shapes[k];
		sp_image	img;
		sp_error	err;
		uint8_t    *png,
				   *pngf,
				   *jpg,
				   *jpgp;
		size_t		png_len,
					pngf_len,
					jpg_len,
					jpgp_len;
		double		raw = (double) sh->w * sh->h * sh->c;
		struct
		{
			const char *op;
			int			kind;	/* 0 png dec, 1 jpeg dec, 2 prog jpeg dec, 3 png enc, 4 jpeg enc,
								 * 5 fast png dec, 6 fast png enc */
			size_t		bytes;
		}			ops[7];

		if (sp_image_alloc(NULL, &img, sh->w, sh->h, sh->c, &err) != SP_OK)
			die("alloc", &err);
		fill(&img, k + 1);
		if (sp_png_encode(NULL, &img, &png, &png_len, &err) != SP_OK)
			die("png encode", &err);
		if (sp_png_encode_mode(NULL, &img, SP_PNG_FAST, &pngf, &pngf_len, &err) != SP_OK)
			die("png encode", &err);
		if (sp_jpeg_encode(NULL, &img, 90, 0, &jpg, &jpg_len, &err) != SP_OK)
			die("jpeg encode", &err);
		if (sp_jpeg_encode(NULL, &img, 90, 1, &jpgp, &jpgp_len, &err) != SP_OK)
			die("jpeg encode", &err);
		ops[0].op = "png decode";
		ops[0].kind = 0;
		ops[0].bytes = png_len;
		ops[1].op = "jpeg decode";
		ops[1].kind = 1;
		ops[1].bytes = jpg_len;
		ops[2].op = "jpeg-p decode";
		ops[2].kind = 2;
		ops[2].bytes = jpgp_len;
		ops[3].op = "png encode";
		ops[3].kind = 3;
		ops[3].bytes = png_len;
		ops[4].op = "jpeg encode";
		ops[4].kind = 4;
		ops[4].bytes = jpg_len;
		ops[5].op = "png-fast dec";
		ops[5].kind = 5;
		ops[5].bytes = pngf_len;
		ops[6].op = "png-fast enc";
		ops[6].kind = 6;
		ops[6].bytes = pngf_len;

		for (int i = 0; i < 7; i++)
		{
			double		t;

			t = BENCH_LOOP(secs, {
				sp_image	out;
				uint8_t    *buf;
				size_t		len;
				sp_status	st;

				switch (ops[i].kind)
				{
					case 0:
						st = sp_image_decode(NULL, png, png_len, &out, &err);
						break;
					case 1:
						st = sp_image_decode(NULL, jpg, jpg_len, &out, &err);
						break;
					case 2:
						st = sp_image_decode(NULL, jpgp, jpgp_len, &out, &err);
						break;
					case 3:
						st = sp_png_encode(NULL, &img, &buf, &len, &err);
						break;
					case 5:
						st = sp_image_decode(NULL, pngf, pngf_len, &out, &err);
						break;
					case 6:
						st = sp_png_encode_mode(NULL, &img, SP_PNG_FAST, &buf, &len, &err);
						break;
					default:
						st = sp_jpeg_encode(NULL, &img, 90, 0, &buf, &len, &err);
						break;
				}
				if (st != SP_OK)
					die(ops[i].op, &err);
				if (ops[i].kind <= 2 || ops[i].kind == 5)
				{
					bench_consume(out.pixels);
					sp_image_free(NULL, &out);
				}
				else
				{
					bench_consume(buf);
					sp_free(NULL, buf);
				}
			});
			printf("%-12s %-14s %10zu %12.0f %10.1f\n", sh->label, ops[i].op, ops[i].bytes,
				   1.0 / t, raw / t / 1e6);
		}
		sp_free(NULL, png);
		sp_free(NULL, pngf);
		sp_free(NULL, jpg);
		sp_free(NULL, jpgp);
		sp_image_free(NULL, &img);
	}
	printf("\nJPEG quality 90 (4:2:0 for RGB); PNG zlib level 6 with libpng's adaptive filters;\n"
		   "png-fast: the Up filter and zlib's Z_RLE (corrupt() and perturbation_frames() outputs).\n");
	return 0;
}
