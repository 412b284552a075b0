/*
 * progress.c — the progress bar of long operations (dump, load, verify, opening a large log).
 *
 * A bar is drawn on stderr, and only when stderr is a terminal (or with --progress; never with
 * --no-progress), so that scripts and pipes see nothing of it. It appears once an operation has
 * run for 250 ms (at once with --progress), is redrawn at most ten times a second, and is erased
 * at the end. With a known total it shows a bar, a percentage and the counts; with an unknown
 * total a moving block and the elapsed time.
 *
 * Opening a database gives no progress callback (inmem_db_open() replays the whole log before
 * it returns), so the open is watched by a spinner: a thread that draws an indeterminate bar
 * with the elapsed time until the open returns.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define WIDTH 30

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int allowed(cli *c)
{
    if (c->progress < 0)
        return 0;
    return c->progress > 0 || isatty(STDERR_FILENO);
}

static void draw(progress *p, uint64_t now)
{
    char bar[WIDTH + 1];
    double secs = (double)(now - p->start_us) / 1e6;
    if (p->total) {
        uint64_t done = p->done > p->total ? p->total : p->done;
        int fill = (int)((double)done * WIDTH / (double)p->total);
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r%-8s [%s] %3d%%  %llu/%llu  %.1fs\033[K", p->label, bar,
                (int)((double)done * 100 / (double)p->total), (unsigned long long)done,
                (unsigned long long)p->total, secs);
    } else {
        int pos = (int)((now - p->start_us) / 100000u) % (2 * (WIDTH - 3));
        if (pos >= WIDTH - 3)
            pos = 2 * (WIDTH - 3) - pos;
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i >= pos && i < pos + 3 ? '#' : ' ';
        bar[WIDTH] = '\0';
        if (p->done)
            fprintf(stderr, "\r%-8s [%s] %llu  %.1fs\033[K", p->label, bar,
                    (unsigned long long)p->done, secs);
        else
            fprintf(stderr, "\r%-8s [%s] %.1fs\033[K", p->label, bar, secs);
    }
    fflush(stderr);
    p->drawn = 1;
    p->last_us = now;
}

void progress_start(progress *p, cli *c, const char *label, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->on = allowed(c);
    p->label = label;
    p->total = total;
    p->start_us = now_us();
    p->delay_ms = c->progress > 0 ? 0 : 250;
    if (p->on && p->delay_ms == 0)
        draw(p, p->start_us);
}

void progress_update(progress *p, uint64_t done)
{
    p->done = done;
    if (!p->on)
        return;
    uint64_t now = now_us();
    if (now - p->start_us < (uint64_t)p->delay_ms * 1000u)
        return;
    if (p->drawn && now - p->last_us < 100000u && !(p->total && done >= p->total))
        return;
    draw(p, now);
}

void progress_end(progress *p)
{
    if (!p->on || !p->drawn)
        return;
    fputs("\r\033[K", stderr); /* clear the line */
    fflush(stderr);
    p->drawn = 0;
}

/* ---- the spinner ------------------------------------------------------------------------- */

struct spinner {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    progress p;
};

static void *spin(void *arg)
{
    spinner *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &until);
        if (!s->stop)
            progress_update(&s->p, 0);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

spinner *spinner_start(cli *c, const char *label)
{
    if (!allowed(c))
        return NULL;
    spinner *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    progress_start(&s->p, c, label, 0);
    if (pthread_create(&s->thread, NULL, spin, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return NULL;
    }
    return s;
}

void spinner_stop(spinner *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    progress_end(&s->p);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
