/* evals/bench_sandbox.c - what the sandbox costs a run: the median wall time from spawn to
 * exit of a no-op tool (/usr/bin/true) through hale_sandbox_run() with every layer, against
 * plain posix_spawn + waitpid of the same binary, interleaved in the same run so load on a
 * shared machine hits both alike. Also one row per layer group left out, to show where the
 * time goes. Must run as root (the sandbox switches to uid 65534).
 * Usage: bench_sandbox [RUNS]   (default 200) */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hale/diag.h"
#include "hale/err.h"
#include "hale/sandbox.h"

#define TOOL "/usr/bin/true"

extern char **environ;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double plain(void)
{
    char arg0[] = TOOL, *argv[] = {arg0, NULL};
    double t0 = now_ms();
    pid_t pid;
    int st;

    if (posix_spawn(&pid, TOOL, NULL, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) < 0 ||
        !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_sandbox: plain spawn of %s failed\n", TOOL);
        exit(1);
    }
    return now_ms() - t0;
}

static double sandboxed(uint32_t disable)
{
    hale_sandbox_spec s;
    hale_sandbox_result res;
    hale_diag d = {{0}};
    double t0;
    int r;

    hale_sandbox_spec_init(&s);
    s.launcher = HALE_SANDBOX_LAUNCHER;
    s.path = TOOL;
    s.disable = disable;
    s.require &= ~disable;
    t0 = now_ms();
    r = hale_sandbox_run(&s, &res, &d);
    if (r < 0 || res.exit_code != 0) {
        fprintf(stderr, "bench_sandbox: sandboxed run failed: %s %s\n", hale_strerror(r), d.msg);
        exit(1);
    }
    hale_sandbox_result_release(&res);
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        uint32_t disable;
    } rows[] = {
        {"sandbox, every layer", 0},
        {"  without seccomp", HALE_SANDBOX_SECCOMP},
        {"  without landlock", HALE_SANDBOX_LANDLOCK},
        {"  without namespaces and mounts", HALE_SANDBOX_MOUNTNS | HALE_SANDBOX_PIDNS |
                                                HALE_SANDBOX_NETNS | HALE_SANDBOX_IPCNS |
                                                HALE_SANDBOX_UTSNS | HALE_SANDBOX_CGROUPNS},
    };
    enum { N_ROWS = sizeof(rows) / sizeof(rows[0]) };
    int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200;
    double *base, *t[N_ROWS], mb;

    if (runs < 5 || runs > 100000) {
        fprintf(stderr, "usage: bench_sandbox [RUNS >= 5]\n");
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "bench_sandbox: run as root (the sandbox switches to uid 65534)\n");
        return 2;
    }
    base = calloc((size_t)runs, sizeof(double));
    for (int k = 0; k < N_ROWS; k++)
        t[k] = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < 10; i++) { /* warm the page cache and the dentry cache */
        (void)plain();
        (void)sandboxed(0);
    }
    for (int i = 0; i < runs; i++) {
        base[i] = plain();
        for (int k = 0; k < N_ROWS; k++)
            t[k][i] = sandboxed(rows[k].disable);
    }
    mb = median(base, runs);
    printf("spawn to exit of %s, median of %d runs (interleaved)\n", TOOL, runs);
    printf("%-34s %8.3f ms\n", "plain posix_spawn + waitpid", mb);
    for (int k = 0; k < N_ROWS; k++) {
        double m = median(t[k], runs);

        printf("%-34s %8.3f ms  %5.1fx plain  (+%.3f ms)\n", rows[k].name, m, m / mb, m - mb);
    }
    free(base);
    for (int k = 0; k < N_ROWS; k++)
        free(t[k]);
    return 0;
}
