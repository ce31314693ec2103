/*
 * model_files.c: whole-file reads and model loading from files for the
 * tools and benchmarks (see model_files.h).
 */
#include "model_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *
mf_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf = NULL;
	long		n;
	int			saved;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
	{
		buf = malloc((size_t) n + 1);
		if (buf && fread(buf, 1, (size_t) n, f) == (size_t) n)
		{
			buf[n] = 0;
			*len = (size_t) n;
		}
		else
		{
			if (buf)
				errno = EIO;
			free(buf);
			buf = NULL;
		}
	}
	saved = errno;
	fclose(f);
	errno = saved;
	return buf;
}

sp_status
mf_load_model(const char *prefix, sp_nn_model **model, char **config, size_t *config_len,
			  uint8_t **weights, size_t *weights_len, sp_error *err)
{
	char		path[4096];
	size_t		cl = 0,
				wl = 0;
	uint8_t    *cj,
			   *w = NULL;
	sp_status	st;

	*model = NULL;
	snprintf(path, sizeof(path), "%s.json", prefix);
	cj = mf_read_file(path, &cl);
	if (cj)
	{
		snprintf(path, sizeof(path), "%s.safetensors", prefix);
		w = mf_read_file(path, &wl);
	}
	if (!cj || !w)
		st = sp_set_error(err, SP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	else
		st = sp_nn_model_load(sp_env_default(), (const char *) cj, cl, w, wl, model, err);
	if (st == SP_OK && config && weights)
	{
		*config = (char *) cj;
		*config_len = cl;
		*weights = w;
		*weights_len = wl;
		return st;
	}
	free(cj);
	free(w);
	return st;
}
