/* agent/sandbox/sandbox.c - the caller's side of a sandboxed run: check the spec, start the
 * hale-sandbox launcher with posix_spawn (argv array, no shell, every signal reset), read
 * stdout and stderr up to their caps and the launcher's status lines, and turn them into a
 * result. Blocking by design: the daemon calls it from a threadpool job. */
#include "internal.h"

#include <limits.h>

#include "hale/diag.h"
#include "sandbox/sandbox_int.h"
#include "util/strparse.h"

static const struct {
    uint32_t bit;
    const char *name;
} layer_names[] = {
#define HALE_SANDBOX_LAYER_NAME(name, bit, text) {1u << (bit), text},
    HALE_SANDBOX_LAYER_MAP(HALE_SANDBOX_LAYER_NAME)
#undef HALE_SANDBOX_LAYER_NAME
};

void hale_sandbox_spec_init(hale_sandbox_spec *spec)
{
    *spec = (hale_sandbox_spec){
        .uid = 65534,
        .gid = 65534,
        .memory_bytes = 512u << 20,
        .max_processes = 64,
        .file_bytes = 16u << 20,
        .cpu_s = 10,
        .max_fds = 64,
        .tmp_bytes = 16u << 20,
        .timeout_ms = 30000,
        .stdout_max = 1u << 20,
        .stderr_max = 1u << 20,
        .require = HALE_SANDBOX_REQUIRE_DEFAULT,
        .connect_max_bytes = 16u << 20,
        .connect_max_conns = 64,
    };
}

/* Names of capabilities 0 through HALE__SANDBOX_CAP_LAST, as capabilities(7) spells them. */
/* clang-format off */
static const char *const cap_names[HALE__SANDBOX_CAP_LAST + 1] = {
    "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner",
    "cap_fsetid", "cap_kill", "cap_setgid", "cap_setuid",
    "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast",
    "cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner",
    "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
    "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
    "cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod",
    "cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
    "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
    "cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf",
    "cap_checkpoint_restore",
};
/* clang-format on */

int hale_sandbox_cap_parse(const char *name)
{
    for (int c = 0; c <= HALE__SANDBOX_CAP_LAST; c++) {
        const char *n = cap_names[c];
        size_t j = 0;

        while (n[j] && name[j] == (n[j] >= 'a' && n[j] <= 'z' ? n[j] - 'a' + 'A' : n[j]))
            j++;
        if (!n[j] && !name[j])
            return c;
    }
    return -1;
}

const char *hale_sandbox_caps_str(uint64_t mask, char *buf, size_t size)
{
    size_t off = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (unsigned c = 0; c < 64; c++) {
        char num[16];
        const char *name = num;
        int n;

        if (!(mask & (1ULL << c)))
            continue;
        if (c < HALE_ARRAY_SIZE(cap_names))
            name = cap_names[c];
        else
            snprintf(num, sizeof(num), "cap_%u", c);
        n = snprintf(buf + off, size - off, "%s%s", off ? "," : "", name);
        if (n < 0 || (size_t)n >= size - off) {
            buf[off] = '\0'; /* whole names only */
            break;
        }
        off += (size_t)n;
    }
    return buf;
}

const char *hale_sandbox_relax_str(uint32_t relax, char *buf, size_t size)
{
    static const char *const names[] = {"connect", "caps", "host_pid"};
    size_t off = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (unsigned i = 0; i < HALE_ARRAY_SIZE(names); i++) {
        int n;

        if (!(relax & (1u << i)))
            continue;
        n = snprintf(buf + off, size - off, "%s%s", off ? "," : "", names[i]);
        if (n < 0 || (size_t)n >= size - off) {
            buf[off] = '\0'; /* whole names only */
            break;
        }
        off += (size_t)n;
    }
    return buf;
}

const char *hale_sandbox_layers_str(uint32_t mask, char *buf, size_t size)
{
    size_t off = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < HALE_ARRAY_SIZE(layer_names); i++) {
        int n;

        if (!(mask & layer_names[i].bit))
            continue;
        n = snprintf(buf + off, size - off, "%s%s", off ? "," : "", layer_names[i].name);
        if (n < 0 || (size_t)n >= size - off) {
            buf[off] = '\0'; /* whole names only */
            break;
        }
        off += (size_t)n;
    }
    return buf;
}

int hale_sandbox_layers_parse(const char *s, uint32_t *ret, hale_diag *reterr)
{
    uint32_t mask = 0;

    while (*s) {
        size_t len = strcspn(s, ",");
        bool found = false;

        if (len == 3 && strncmp(s, "all", 3) == 0)
            mask |= (1u << HALE_ARRAY_SIZE(layer_names)) - 1, found = true;
        else if (len == 7 && strncmp(s, "default", 7) == 0)
            mask |= HALE_SANDBOX_REQUIRE_DEFAULT, found = true;
        else if (len == 4 && strncmp(s, "none", 4) == 0)
            found = true;
        for (size_t i = 0; i < HALE_ARRAY_SIZE(layer_names) && !found; i++)
            if (strlen(layer_names[i].name) == len && strncmp(s, layer_names[i].name, len) == 0)
                mask |= layer_names[i].bit, found = true;
        if (!found) {
            hale_diag_set(reterr,
                          "layers: unknown layer '%.*s', expected one of userns, mountns, "
                          "pidns, netns, ipcns, utsns, cgroupns, uid, caps, securebits, nnp, "
                          "landlock, seccomp, rlimits, setsid, closefds, all, default, none",
                          (int)(len > 64 ? 64 : len), s);
            return HALE_EPARSE;
        }
        s += len;
        if (*s == ',')
            s++;
    }
    *ret = mask;
    return 0;
}

void hale_sandbox_result_release(hale_sandbox_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    free(r->granted);
    r->out = r->err = r->granted = NULL;
}

/* Absolute, no "." or ".." component, no newline, not too long. */
static bool clean_path(const char *p)
{
    if (!p || p[0] != '/' || strlen(p) >= PATH_MAX || strchr(p, '\n'))
        return false;
    for (const char *c = p; *c; c++) {
        size_t len;

        if (*c != '/')
            continue;
        len = strcspn(c + 1, "/");
        if ((len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.'))
            return false;
    }
    return true;
}

static size_t count(const char *const *v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

/* HOST:PORT with a host name, IPv4 or [IPv6] and a port of 1-65535. */
static bool dest_ok(const char *d)
{
    char host[256];
    uint16_t port = 0;

    if (strlen(d) > 300 || hale_parse_hostport(d, host, sizeof(host), &port) < 0 || port == 0 ||
        host[0] == '\0')
        return false;
    return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:") ==
           strlen(host);
}

static int check_relaxations(const hale_sandbox_spec *s, hale_diag *reterr)
{
    const uint32_t guards = HALE_SANDBOX_SECCOMP | HALE_SANDBOX_LANDLOCK | HALE_SANDBOX_MOUNTNS;
    char names[256];

    if (count(s->connect) > HALE_SANDBOX_MAX_CONNECT)
        return hale_diag_set(reterr, "connect: more than %d destinations",
                             HALE_SANDBOX_MAX_CONNECT),
               HALE_ESCHEMA;
    for (size_t i = 0; i < count(s->connect); i++)
        if (!dest_ok(s->connect[i]))
            return hale_diag_set(reterr,
                                 "connect[%zu]: '%.64s' is not HOST:PORT with a host name, "
                                 "IPv4 or [IPv6] address and a port of 1-65535",
                                 i, s->connect[i]),
                   HALE_ESCHEMA;
    if (s->connect && s->connect[0] &&
        (s->connect_max_bytes == 0 || s->connect_max_conns == 0 ||
         (s->disable & HALE_SANDBOX_NETNS)))
        return hale_diag_set(reterr, "connect: needs netns and non-zero connect_max_bytes and "
                                     "connect_max_conns"),
               HALE_ESCHEMA;
    if (s->keep_caps >> (HALE__SANDBOX_CAP_LAST + 1))
        return hale_diag_set(reterr, "keep_caps: bits above %d (%s) are no capability",
                             HALE__SANDBOX_CAP_LAST, cap_names[HALE__SANDBOX_CAP_LAST]),
               HALE_ESCHEMA;
    /* Capabilities whose known escapes only seccomp, Landlock and the mount view stop. */
    if ((s->keep_caps & HALE__SANDBOX_CAPS_GUARDED) &&
        ((s->require & guards) != guards || (s->disable & guards)))
        return hale_diag_set(reterr,
                             "keep_caps: %s need seccomp, landlock and mountns required and "
                             "not disabled",
                             hale_sandbox_caps_str(s->keep_caps & HALE__SANDBOX_CAPS_GUARDED, names,
                                                   sizeof(names))),
               HALE_ESCHEMA;
    if (s->host_pid && (s->require & HALE_SANDBOX_PIDNS))
        return hale_diag_set(reterr, "host_pid: the host's pid view asked for, but pidns is "
                                     "required; drop pidns from require"),
               HALE_ESCHEMA;
    return 0;
}

int hale__sandbox_check_spec(const hale_sandbox_spec *s, hale_diag *reterr)
{
    size_t n_w = count(s->writable), n_r = count(s->readable);
    int r;

    if (!clean_path(s->path))
        return hale_diag_set(reterr, "path: '%s' is not an absolute path without '.' or '..'",
                             s->path ? s->path : "(null)"),
               HALE_ESCHEMA;
    if (count(s->argv) > HALE_SANDBOX_MAX_ARGS || count(s->env) > HALE_SANDBOX_MAX_ENV ||
        n_w > HALE_SANDBOX_MAX_PATHS || n_r > HALE_SANDBOX_MAX_PATHS)
        return hale_diag_set(reterr,
                             "spec: more than %d arguments, %d environment entries or "
                             "%d paths of a kind",
                             HALE_SANDBOX_MAX_ARGS, HALE_SANDBOX_MAX_ENV, HALE_SANDBOX_MAX_PATHS),
               HALE_ESCHEMA;
    for (size_t i = 0; i < count(s->argv); i++)
        if (strlen(s->argv[i]) > HALE_SANDBOX_MAX_ARG)
            return hale_diag_set(reterr, "argv[%zu]: longer than %d bytes", i + 1,
                                 HALE_SANDBOX_MAX_ARG),
                   HALE_ESCHEMA;
    for (size_t i = 0; i < count(s->env); i++) {
        const char *e = s->env[i], *eq = strchr(e, '=');

        if (!eq || eq == e || strlen(e) > HALE_SANDBOX_MAX_ARG ||
            strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                (size_t)(eq - e))
            return hale_diag_set(reterr,
                                 "env[%zu]: expected NAME=VALUE with NAME of letters, "
                                 "digits and '_'",
                                 i),
                   HALE_ESCHEMA;
    }
    for (size_t i = 0; i < n_w + n_r; i++) {
        const char *p = i < n_w ? s->writable[i] : s->readable[i - n_w];

        if (!clean_path(p) || strcmp(p, "/") == 0)
            return hale_diag_set(reterr,
                                 "%s: '%s' is not an absolute path below / without '.' "
                                 "or '..'",
                                 i < n_w ? "writable" : "readable", p),
                   HALE_ESCHEMA;
    }
    r = check_relaxations(s, reterr);
    if (r < 0)
        return r;
    if (s->timeout_ms == 0 || s->timeout_ms > 24 * 3600 * 1000ULL || s->max_processes == 0 ||
        s->memory_bytes == 0 || s->cpu_s == 0 || s->max_fds < 4 || s->tmp_bytes == 0 ||
        s->stdout_max > HALE_SANDBOX_MAX_OUTPUT || s->stderr_max > HALE_SANDBOX_MAX_OUTPUT)
        return hale_diag_set(reterr,
                             "limits: timeout_ms (1 ms to 24 h), memory, processes, CPU, "
                             "fds (>= 4) and /tmp must be set; outputs at most %u bytes",
                             HALE_SANDBOX_MAX_OUTPUT),
               HALE_ESCHEMA;
    return 0;
}
