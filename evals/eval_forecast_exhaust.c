/* evals/eval_forecast_exhaust.c - "the series crosses its limit within 6 hours": precision,
 * recall, lead time and false alarms per day of hale's trend model (Theil-Sen over the last 12 h,
 * alert when the probability of being beyond the limit in 6 h is at least 0.5) against a static
 * threshold at 90 % of the limit, on seeded synthetic fill and leak traces with exact ground
 * truth (BENCHMARKS.md §5).
 * Traces: 5-minute steps, up to 7 days, limit 100. A base level, a daily cycle and AR(1) noise;
 * failing traces add a linear fill (from an onset) or leak (from the start) that reaches the
 * limit 6 to 72 h after it starts; non-failing traces either stay flat, fill up to a plateau
 * 80-95 % of the limit, or fill and get cleaned up (sawtooth). The failure time is the first
 * step at which the noise-free signal reaches the limit; a failing trace ends there.
 * Every 30 minutes each method says alert or not. An alert is true when a failure follows
 * within 6 h. A failure is caught when an alert fell in the 6 h before it; its lead time is
 * the failure time minus the first alert of that 6 h.
 * usage: eval_forecast_exhaust [SEED] */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/forecast.h"

#define STEPS_H   12 /* 5-minute steps per hour */
#define HORIZON_H 6
#define WINDOW_H  12
#define EVERY     6 /* evaluate every 30 minutes */
#define MAX_STEPS (7 * 24 * STEPS_H)
#define LIMIT     100.0
#define N_TRACES  400
#define N_METHODS 3

static uint64_t rng;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

enum kind { FILL, LEAK, FLAT, PLATEAU, SAWTOOTH, N_KINDS };

/* Generate one trace; returns its length, *ret_fail the failure step or -1. */
static size_t make_trace(enum kind k, double *y, long *ret_fail)
{
    double base = 20 + 40 * uniform(), amp = 5 * uniform(), sd = 0.5 + 2.5 * uniform();
    double onset = k == LEAK ? 0 : (24 + 96 * uniform()) * STEPS_H;
    double hours = 6 + 66 * uniform(); /* time from start of the fill to the limit */
    double target = k == PLATEAU ? LIMIT * (0.80 + 0.15 * uniform()) : LIMIT;
    double rate = (target - base - amp) / (hours * STEPS_H), ar = 0;
    double period_clean = (8 + 16 * uniform()) * STEPS_H; /* sawtooth: cleaned up this often */
    long fail = -1;
    size_t n = MAX_STEPS;

    if (k == SAWTOOTH) /* fills to 70-90 % of the limit, then a cleanup returns to base */
        rate = (LIMIT * (0.7 + 0.2 * uniform()) - base - amp) / period_clean;
    for (size_t t = 0; t < MAX_STEPS; t++) {
        double season = amp * sin(6.283185307179586 * (double)t / (24.0 * STEPS_H));
        double fill = 0, clean;

        if (k == FILL || k == LEAK || k == PLATEAU)
            fill = (double)t > onset ? rate * ((double)t - onset) : 0;
        if (k == PLATEAU && base + fill > target)
            fill = target - base;
        if (k == SAWTOOTH && (double)t > onset) {
            clean = fmod((double)t - onset, period_clean);
            fill = rate * clean;
        }
        ar = 0.5 * ar + sd * gauss();
        y[t] = base + season + fill + ar;
        if ((k == FILL || k == LEAK) && base + season + fill >= LIMIT) {
            fail = (long)t;
            n = t; /* the trace ends at the failure */
            break;
        }
    }
    *ret_fail = fail;
    return n;
}

struct tally {
    size_t alerts, true_alerts, failures, caught, evals;
    double lead_h[N_TRACES];
    size_t n_lead;
    double days;
    size_t false_by_kind[N_KINDS];
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 42;
    static double y[MAX_STEPS];
    static struct tally tl[N_METHODS];
    size_t win = WINDOW_H * STEPS_H, wl = hale_forecast_work_len(win, 0);
    double *work = malloc(wl * sizeof(double));
    const char *names[N_METHODS] = {"hale trend (Theil-Sen 12 h, P >= 0.5)",
                                    "hale trend (Theil-Sen 12 h, P >= 0.8)",
                                    "static threshold (value >= 90 % of limit)"};
    size_t per_kind[N_KINDS] = {0};

    if (!work)
        return 1;
    rng = seed * 2654435761u + 1;
    for (int i = 0; i < N_TRACES; i++) {
        enum kind k = (enum kind)(i % N_KINDS);
        long fail;
        size_t n = make_trace(k, y, &fail);
        long first_alert[N_METHODS] = {-1, -1, -1};

        per_kind[k]++;
        for (int m = 0; m < N_METHODS; m++) {
            tl[m].days += (double)n / (24.0 * STEPS_H);
            tl[m].failures += fail >= 0;
        }
        for (size_t t = win; t <= n; t += EVERY) {
            /* at time t the points y[0..t-1] are known */
            bool alert[N_METHODS];
            bool truth = fail >= 0 && (long)t <= fail && fail - (long)t < HORIZON_H * STEPS_H;
            hale_forecast_crossing x;

            if (hale_forecast_crossing_eval(y + t - win, win, LIMIT, HORIZON_H * STEPS_H, work, wl,
                                            &x) < 0) {
                fprintf(stderr, "eval_forecast_exhaust: trend failed\n");
                return 1;
            }
            alert[0] = x.probability >= 0.5;
            alert[1] = x.probability >= 0.8;
            alert[2] = y[t - 1] >= 0.9 * LIMIT;
            for (int m = 0; m < N_METHODS; m++) {
                tl[m].evals++;
                if (!alert[m])
                    continue;
                tl[m].alerts++;
                tl[m].true_alerts += truth;
                tl[m].false_by_kind[k] += !truth;
                if (truth && first_alert[m] < 0)
                    first_alert[m] = (long)t;
            }
        }
        for (int m = 0; m < N_METHODS; m++)
            if (first_alert[m] >= 0) {
                tl[m].caught++;
                tl[m].lead_h[tl[m].n_lead++] = (double)(fail - first_alert[m]) / (double)STEPS_H;
            }
    }
    printf("Synthetic exhaustion traces: %d (seed %llu): fill %zu, leak %zu (these fail), flat "
           "%zu, plateau %zu, sawtooth %zu (these do not)\n",
           N_TRACES, (unsigned long long)seed, per_kind[FILL], per_kind[LEAK], per_kind[FLAT],
           per_kind[PLATEAU], per_kind[SAWTOOTH]);
    printf("Question every 30 min: does the series cross %g within %d h?\n\n", LIMIT, HORIZON_H);
    printf("| Method | alerts | precision | recall | lead time median h | lead time p10 h | "
           "false alarms per day |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (int m = 0; m < N_METHODS; m++) {
        struct tally *t = &tl[m];

        qsort(t->lead_h, t->n_lead, sizeof(double), cmp_d);
        printf("| %s | %zu | %.3f | %.3f | %.2f | %.2f | %.3f |\n", names[m], t->alerts,
               t->alerts ? (double)t->true_alerts / (double)t->alerts : 0.0,
               t->failures ? (double)t->caught / (double)t->failures : 0.0,
               t->n_lead ? t->lead_h[t->n_lead / 2] : NAN,
               t->n_lead ? t->lead_h[t->n_lead / 10] : NAN,
               (double)(t->alerts - t->true_alerts) / t->days);
    }
    printf("\nfalse alerts by trace kind (fill, leak, flat, plateau, sawtooth); fill and leak\n"
           "false alerts came more than 6 h before the failure:\n");
    for (int m = 0; m < N_METHODS; m++)
        printf("  %s: %zu, %zu, %zu, %zu, %zu\n", names[m], tl[m].false_by_kind[FILL],
               tl[m].false_by_kind[LEAK], tl[m].false_by_kind[FLAT], tl[m].false_by_kind[PLATEAU],
               tl[m].false_by_kind[SAWTOOTH]);
    free(work);
    return 0;
}
