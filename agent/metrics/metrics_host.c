/* agent/metrics/metrics_host.c - the local host collector: CPU, memory, swap, load, processes
 * from /proc, and space and inodes of every real mounted file system from statvfs, as samples.
 * The parsers are pure functions over the files' text (tests feed them fixtures); collection
 * reads the files, so the loop runs it on the threadpool. */
#include "internal.h"

#include <sys/statvfs.h>

#include "hale/metrics.h"
#include "util/fileio.h"
#include "util/strparse.h"

#define PROC_FILE_MAX (256u * 1024u) /* /proc/self/mounts can be long on container hosts */
#define MAX_MOUNTS    256u           /* file systems reported */

struct hale_host_collector {
    char *root;        /* "/proc" or a fixture directory */
    hale_host_cpu cpu; /* the previous reading */
    bool have_cpu;     /* cpu is valid */
};

int hale_host_collector_new(const char *proc_root, hale_host_collector **ret)
{
    hale_host_collector *h = calloc(1, sizeof(*h));

    if (!h || !(h->root = strdup(proc_root))) {
        free(h);
        return -ENOMEM;
    }
    *ret = h;
    return 0;
}

void hale_host_collector_free(hale_host_collector *h)
{
    if (h)
        free(h->root);
    free(h);
}

/* Next whitespace-separated field of *p as an unsigned number. */
static int next_u64(const char **p, uint64_t *ret)
{
    char word[32];
    size_t n = 0;

    while (**p == ' ' || **p == '\t')
        (*p)++;
    while (**p && **p != ' ' && **p != '\t' && **p != '\n' && n + 1 < sizeof(word))
        word[n++] = *(*p)++;
    word[n] = '\0';
    return n ? hale_parse_u64(word, ret) : -EINVAL;
}

/* The "cpu " line: user nice system idle iowait irq softirq steal (guest is inside user). */
int hale_host_parse_stat(const char *text, hale_host_cpu *ret)
{
    const char *p = strncmp(text, "cpu ", 4) == 0 ? text : strstr(text, "\ncpu ");
    uint64_t v[8] = {0}, total = 0;
    int fields = 0;

    if (!p)
        return -EINVAL;
    p = strchr(p + 1, ' ');
    for (fields = 0; fields < 8 && next_u64(&p, &v[fields]) == 0; fields++)
        total += v[fields];
    if (fields < 4)
        return -EINVAL;
    /* Idle time is idle plus iowait. */
    *ret = (hale_host_cpu){.busy = total - v[3] - v[4], .total = total};
    return 0;
}

static int meminfo_field(const char *text, const char *name, uint64_t *ret)
{
    size_t n = strlen(name);
    const char *p = text;
    uint64_t kib;

    while (p && strncmp(p, name, n) != 0)
        p = (p = strchr(p, '\n')) ? p + 1 : NULL;
    if (!p || p[n] != ':')
        return -EINVAL;
    p += n + 1;
    if (next_u64(&p, &kib) < 0 || kib > UINT64_MAX / 1024)
        return -EINVAL;
    *ret = kib * 1024;
    return 0;
}

int hale_host_parse_meminfo(const char *text, hale_host_mem *ret)
{
    hale_host_mem m;

    if (meminfo_field(text, "MemTotal", &m.total) < 0 ||
        meminfo_field(text, "MemAvailable", &m.available) < 0 ||
        meminfo_field(text, "SwapTotal", &m.swap_total) < 0 ||
        meminfo_field(text, "SwapFree", &m.swap_free) < 0 || m.total == 0 ||
        m.available > m.total || m.swap_free > m.swap_total)
        return -EINVAL;
    *ret = m;
    return 0;
}

static int next_load(const char **p, double *ret)
{
    char *end;
    double d;

    while (**p == ' ')
        (*p)++;
    errno = 0;
    d = strtod(*p, &end);
    if (end == *p || errno || !(d >= 0 && d < 1e9) || (*end != ' ' && *end != '\n'))
        return -EINVAL;
    *p = end;
    *ret = d;
    return 0;
}

/* "0.52 0.58 0.59 2/1011 12345": three loads, running/total, the last pid. */
int hale_host_parse_loadavg(const char *text, hale_host_load *ret)
{
    const char *p = text, *slash;
    hale_host_load l;
    char word[32];
    size_t n = 0;

    if (next_load(&p, &l.load1) < 0 || next_load(&p, &l.load5) < 0 || next_load(&p, &l.load15) < 0)
        return -EINVAL;
    while (*p == ' ')
        p++;
    if (!(slash = strchr(p, '/')) || slash - p > 20)
        return -EINVAL;
    for (p = slash + 1; *p >= '0' && *p <= '9' && n + 1 < sizeof(word); p++)
        word[n++] = *p;
    word[n] = '\0';
    if (hale_parse_u64(word, &l.processes) < 0 || *p != ' ')
        return -EINVAL;
    *ret = l;
    return 0;
}

/* File systems with no space of their own to run out of, or that cannot fill (images). */
static bool is_pseudo(const char *fstype)
{
    static const char *const pseudo[] = {
        "proc",       "sysfs",     "devtmpfs", "devpts",  "tmpfs",    "securityfs",
        "cgroup",     "cgroup2",   "pstore",   "bpf",     "debugfs",  "tracefs",
        "mqueue",     "hugetlbfs", "configfs", "fusectl", "autofs",   "binfmt_misc",
        "rpc_pipefs", "nsfs",      "squashfs", "ramfs",   "efivarfs", "selinuxfs",
        "fuse.lxcfs", "nfsd",      "rootfs",   "iso9660", "devfs",    "none",
    };

    for (size_t i = 0; i < HALE_ARRAY_SIZE(pseudo); i++)
        if (strcmp(fstype, pseudo[i]) == 0)
            return true;
    return false;
}

/* Decode /proc/mounts' octal escapes (\040 is a space) in place. */
static void unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

int hale_host_parse_mounts(const char *text,
                           void (*cb)(const char *mnt, const char *fstype, void *ud), void *ud)
{
    char seen[MAX_MOUNTS][64];
    int n = 0;

    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char dev[4096], mnt[4096], fstype[64];
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[8400];
        char *f[4], *save = buf;
        bool dup = false;

        if (len == 0)
            continue;
        if (len >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, line, len);
        buf[len] = '\0';
        for (int i = 0; i < 4; i++) {
            while (*save == ' ')
                save++;
            f[i] = save;
            while (*save && *save != ' ')
                save++;
            if (*save)
                *save++ = '\0';
            if (!*f[i])
                return -EINVAL;
        }
        snprintf(dev, sizeof(dev), "%s", f[0]);
        snprintf(mnt, sizeof(mnt), "%s", f[1]);
        snprintf(fstype, sizeof(fstype), "%s", f[2]);
        unescape(mnt);
        /* Read-only mounts cannot fill up. */
        if (is_pseudo(fstype) || mnt[0] != '/' || strcmp(f[3], "ro") == 0 ||
            strncmp(f[3], "ro,", 3) == 0)
            continue;
        /* A device mounted twice (bind mounts) is reported once, at its first mount point. */
        for (int i = 0; i < n && dev[0] == '/'; i++)
            dup = dup || strncmp(seen[i], dev, sizeof(seen[i]) - 1) == 0;
        if (dup)
            continue;
        if (n == (int)MAX_MOUNTS)
            break;
        snprintf(seen[n++], sizeof(seen[0]), "%.63s", dev);
        cb(mnt, fstype, ud);
    }
    return n;
}

static int read_text(const hale_host_collector *h, const char *rel, char **ret)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/%s", h->root, rel);
    return hale_file_read(path, PROC_FILE_MAX, ret, NULL, NULL);
}

struct collect {
    hale_sample_set *into;
    int64_t t_ms;
    int added;
    int err;
};

static void add(struct collect *c, const char *name, const char *const *labels, size_t n, double v)
{
    int r = hale_sample_set_add(c->into, name, labels, n, v, c->t_ms, NULL);

    if (r == 0)
        c->added++;
    else if (!c->err)
        c->err = r;
}

static void on_mount(const char *mnt, const char *fstype, void *ud)
{
    struct collect *c = ud;
    const char *labels[] = {"mount", mnt, "fstype", fstype};
    struct statvfs st;
    double avail, used;

    if (statvfs(mnt, &st) < 0 || st.f_blocks == 0)
        return; /* gone, or no blocks to fill (a read-only image) */
    avail = (double)st.f_bavail * (double)st.f_frsize;
    used = (double)(st.f_blocks - st.f_bfree) * (double)st.f_frsize;
    /* As df: used over what non-root users can have, so 1 means full for them. */
    add(c, "host_disk_used_ratio", labels, 2, used + avail > 0 ? used / (used + avail) : 0);
    add(c, "host_disk_free_bytes", labels, 2, avail);
    if (st.f_files > 0)
        add(c, "host_inodes_used_ratio", labels, 2,
            (double)(st.f_files - st.f_ffree) / (double)st.f_files);
}

static void collect_proc(hale_host_collector *h, struct collect *c, hale_diag *reterr)
{
    char *text = NULL;
    hale_host_cpu cpu;
    hale_host_mem mem;
    hale_host_load load;

    if (read_text(h, "stat", &text) == 0 && hale_host_parse_stat(text, &cpu) == 0) {
        if (h->have_cpu && cpu.total > h->cpu.total && cpu.busy >= h->cpu.busy)
            add(c, "host_cpu_used_ratio", NULL, 0,
                (double)(cpu.busy - h->cpu.busy) / (double)(cpu.total - h->cpu.total));
        h->cpu = cpu;
        h->have_cpu = true;
    } else if (!c->err) {
        hale_diag_set(reterr, "%s/stat: unreadable or malformed", h->root);
        c->err = -EINVAL;
    }
    free(text);
    text = NULL;
    if (read_text(h, "meminfo", &text) == 0 && hale_host_parse_meminfo(text, &mem) == 0) {
        add(c, "host_memory_used_ratio", NULL, 0,
            (double)(mem.total - mem.available) / (double)mem.total);
        add(c, "host_memory_available_bytes", NULL, 0, (double)mem.available);
        add(c, "host_swap_used_ratio", NULL, 0,
            mem.swap_total ? (double)(mem.swap_total - mem.swap_free) / (double)mem.swap_total : 0);
    } else if (!c->err) {
        hale_diag_set(reterr, "%s/meminfo: unreadable or malformed", h->root);
        c->err = -EINVAL;
    }
    free(text);
    text = NULL;
    if (read_text(h, "loadavg", &text) == 0 && hale_host_parse_loadavg(text, &load) == 0) {
        add(c, "host_load1", NULL, 0, load.load1);
        add(c, "host_load5", NULL, 0, load.load5);
        add(c, "host_load15", NULL, 0, load.load15);
        add(c, "host_processes", NULL, 0, (double)load.processes);
    } else if (!c->err) {
        hale_diag_set(reterr, "%s/loadavg: unreadable or malformed", h->root);
        c->err = -EINVAL;
    }
    free(text);
}

int hale_host_collect(hale_host_collector *h, int64_t t_ms, hale_sample_set *into,
                      hale_diag *reterr)
{
    struct collect c = {.into = into, .t_ms = t_ms};
    char *text = NULL;

    collect_proc(h, &c, reterr);
    if (read_text(h, "self/mounts", &text) == 0) {
        if (hale_host_parse_mounts(text, on_mount, &c) < 0 && !c.err) {
            hale_diag_set(reterr, "%s/self/mounts: malformed", h->root);
            c.err = -EINVAL;
        }
    } else if (!c.err) {
        hale_diag_set(reterr, "%s/self/mounts: unreadable", h->root);
        c.err = -ENOENT;
    }
    free(text);
    return c.err ? c.err : c.added;
}
