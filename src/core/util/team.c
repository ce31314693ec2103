/*
 * team.c: the compute threads of team.h.  One mutex and two condition
 * variables: a run bumps the generation and wakes the workers, each worker
 * runs its part and the last one to finish wakes the caller.  A run costs a
 * few microseconds of wake-up, against the milliseconds of the ops it splits.
 */
#include "util/team.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct team_worker
{
	struct sp_team *team;
	int			part;
	pthread_t	thread;
} team_worker;

struct sp_team
{
	int			size;
	int			started;		/* workers created */
	pthread_mutex_t mu;
	pthread_cond_t go;
	pthread_cond_t done;
	uint64_t	generation;		/* bumped by each run */
	int			pending;		/* workers still in the current run */
	bool		quit;
	sp_team_fn	fn;
	void	   *ctx;
	team_worker workers[SP_TEAM_MAX];
};

static void *
team_main(void *arg)
{
	team_worker *w = arg;
	sp_team    *t = w->team;
	uint64_t	seen = 0;

	pthread_mutex_lock(&t->mu);
	for (;;)
	{
		sp_team_fn	fn;
		void	   *ctx;

		while (t->generation == seen && !t->quit)
			pthread_cond_wait(&t->go, &t->mu);
		if (t->quit)
			break;
		seen = t->generation;
		fn = t->fn;
		ctx = t->ctx;
		pthread_mutex_unlock(&t->mu);
		fn(ctx, w->part, t->size);
		pthread_mutex_lock(&t->mu);
		if (--t->pending == 0)
			pthread_cond_signal(&t->done);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

sp_status
sp_team_create(int threads, sp_team **out, sp_error *err)
{
	sp_team    *t;
	sigset_t	all,
				old;

	*out = NULL;
	if (threads < 1 || threads > SP_TEAM_MAX)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "thread count %d is outside 1..%d", threads, SP_TEAM_MAX);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory creating %d threads", threads);
	t->size = threads;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->go, NULL);
	pthread_cond_init(&t->done, NULL);
	/* the workers inherit a mask that blocks every signal */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int p = 1; p < threads; p++)
	{
		team_worker *w = &t->workers[p];

		w->team = t;
		w->part = p;
		if (pthread_create(&w->thread, NULL, team_main, w) != 0)
			break;
		t->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (t->started != threads - 1)
	{
		sp_team_free(t);
		return sp_set_error(err, SP_ERR_NOMEM, "could not create %d threads", threads - 1);
	}
	*out = t;
	return SP_OK;
}

void
sp_team_free(sp_team *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->quit = true;
	pthread_cond_broadcast(&t->go);
	pthread_mutex_unlock(&t->mu);
	for (int p = 1; p <= t->started; p++)
		pthread_join(t->workers[p].thread, NULL);
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->go);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int
sp_team_size(const sp_team *t)
{
	return t ? t->size : 1;
}

void
sp_team_run(sp_team *t, sp_team_fn fn, void *ctx)
{
	if (!t || t->size == 1)
	{
		fn(ctx, 0, 1);
		return;
	}
	pthread_mutex_lock(&t->mu);
	t->fn = fn;
	t->ctx = ctx;
	t->pending = t->size - 1;
	t->generation++;
	pthread_cond_broadcast(&t->go);
	pthread_mutex_unlock(&t->mu);
	fn(ctx, 0, t->size);
	pthread_mutex_lock(&t->mu);
	while (t->pending > 0)
		pthread_cond_wait(&t->done, &t->mu);
	pthread_mutex_unlock(&t->mu);
}
