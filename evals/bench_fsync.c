/* evals/bench_fsync.c - the disk's fsync latency as a commit sees it: append 190 KiB (about one
 * intake commit of WAL frames) and fsync, over and over, for a number of seconds. The tail of
 * this distribution is the floor under the intake's p99 with store_sync "full".
 * Usage: bench_fsync DIR [SECONDS] */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITE_BYTES (190 * 1024)
#define MAX_SAMPLES 1000000

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static char buf[WRITE_BYTES];
    double *lat, end, t0;
    long seconds = argc > 2 ? strtol(argv[2], NULL, 10) : 10;
    size_t n = 0, slow = 0;
    char path[4096];
    off_t off = 0;
    int fd;

    if (argc < 2 || seconds <= 0) {
        fprintf(stderr, "usage: %s DIR [SECONDS]\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/hale-fsync-probe", argv[1]);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    lat = malloc(MAX_SAMPLES * sizeof(*lat));
    if (fd < 0 || !lat) {
        perror(path);
        return 1;
    }
    memset(buf, 'w', sizeof(buf));
    end = now_ms() + (double)seconds * 1e3;
    while (now_ms() < end && n < MAX_SAMPLES) {
        if (pwrite(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf)) {
            perror("pwrite");
            return 1;
        }
        off = (off + (off_t)sizeof(buf)) % (10 * 1024 * 1024); /* a WAL is reused from the top */
        t0 = now_ms();
        if (fsync(fd) < 0) {
            perror("fsync");
            return 1;
        }
        lat[n] = now_ms() - t0;
        slow += lat[n] > 100;
        n++;
    }
    close(fd);
    unlink(path);
    qsort(lat, n, sizeof(*lat), cmp);
    printf("%zu fsyncs of %d KiB in %ld s: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms, "
           "%zu over 100 ms\n",
           n, WRITE_BYTES / 1024, seconds, lat[n / 2], lat[n * 99 / 100], lat[n * 999 / 1000],
           lat[n - 1], slow);
    free(lat);
    return 0;
}
