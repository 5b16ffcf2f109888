/* agent/sandbox/sandbox_relay.c - the forwarder of a tool's declared destinations: it runs in
 * the launcher, in the host's network, holds the listeners the child made on lo inside the
 * tool's network namespace, and relays each accepted connection to the real ADDR:PORT it
 * stands for. Non-blocking, driven by the launcher's poll loop; both directions with
 * half-close; a byte cap per connection and direction and a cap on connections per run;
 * everything is closed when the tool ends. It parses nothing: bytes in, bytes out. */
#define _GNU_SOURCE /* accept4 */
#include "internal.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

#define MAX_LISTENERS (HALE_SANDBOX_MAX_CONNECT * HALE_SANDBOX_MAX_ADDRS)
#define SLOTS         32    /* connections open at once; more wait in the listen backlog */
#define CHUNK         16384 /* bytes buffered per direction */

struct dir {
    char buf[CHUNK]; /* read from src, not yet written to dst */
    size_t len;      /* bytes in buf */
    size_t off;      /* bytes of buf already written */
    uint64_t total;  /* bytes read from src */
    bool eof;        /* src ended: read no more */
    bool capped;     /* the cap was reached: dst got its FIN, src is read and discarded */
    bool shut;       /* dst was sent a FIN */
};

struct conn {
    int fd[2];         /* 0: the tool's side (accepted), 1: upstream */
    bool connecting;   /* upstream connect() in progress */
    struct dir dir[2]; /* dir[0]: tool to upstream, dir[1]: upstream to tool */
};

struct slot_ref {
    int kind;     /* 0 listener, 1 a connection's fd[0], 2 its fd[1] */
    unsigned idx; /* listener or connection index */
};

struct hale__sandbox_relay {
    const struct hale__sandbox_opts *o;             /* destinations and caps */
    int lfd[MAX_LISTENERS];                         /* listeners, in the tool's network */
    unsigned char ldest[MAX_LISTENERS];             /* destination of each */
    unsigned char laddr[MAX_LISTENERS];             /* address index of each */
    unsigned n_l;                                   /* listeners */
    struct conn *conn[SLOTS];                       /* open connections, NULL: free slot */
    struct slot_ref ref[MAX_LISTENERS + 2 * SLOTS]; /* what fill() put in each pollfd */
    unsigned n_ref;                                 /* entries in ref */
    uint32_t accepted;                              /* connections accepted */
    uint32_t relayed;                               /* connected upstream */
    uint32_t refused;                               /* closed without relaying */
    uint64_t bytes;                                 /* relayed, both directions */
};

int hale__sandbox_relay_start(const struct hale__sandbox_opts *o, int sock, uint64_t timeout_ms,
                              struct hale__sandbox_relay **ret)
{
    unsigned char tags[2 * MAX_LISTENERS];
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_LISTENERS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = tags, .iov_len = sizeof(tags)};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
    struct pollfd p = {.fd = sock, .events = POLLIN};
    struct hale__sandbox_relay *r;
    struct cmsghdr *c;
    unsigned nfd = 0;
    ssize_t n;
    int fds[MAX_LISTENERS];

    *ret = NULL;
    if (poll(&p, 1, timeout_ms > 30000 ? 30000 : (int)timeout_ms) <= 0)
        return -ETIMEDOUT;
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            nfd = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
        }
    if (n == 0 && nfd == 0)
        return 0; /* the child failed before passing them */
    r = calloc(1, sizeof(*r));
    if (!r || (msg.msg_flags & MSG_CTRUNC) || (size_t)n != 2 * nfd) {
        for (unsigned i = 0; i < nfd; i++)
            close(fds[i]);
        free(r);
        return r ? -EPROTO : -ENOMEM;
    }
    r->o = o;
    for (unsigned i = 0; i < nfd; i++) {
        if (tags[2 * i] >= o->n_dest || tags[2 * i + 1] >= o->dest[tags[2 * i]].n_addr) {
            close(fds[i]);
            continue;
        }
        r->lfd[r->n_l] = fds[i];
        r->ldest[r->n_l] = tags[2 * i];
        r->laddr[r->n_l++] = tags[2 * i + 1];
    }
    *ret = r;
    return 0;
}

static void conn_close(struct hale__sandbox_relay *r, unsigned i)
{
    struct conn *c = r->conn[i];

    if (!c)
        return;
    for (int k = 0; k < 2; k++)
        if (c->fd[k] >= 0)
            close(c->fd[k]);
    free(c);
    r->conn[i] = NULL;
}

static void accept_one(struct hale__sandbox_relay *r, unsigned li)
{
    const struct hale__sandbox_dest *d = &r->o->dest[r->ldest[li]];
    const struct sockaddr_storage *up = &d->addr[r->laddr[li]];
    int a = accept4(r->lfd[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    unsigned slot = SLOTS;
    struct conn *c;

    if (a < 0)
        return;
    for (unsigned i = 0; i < SLOTS && slot == SLOTS; i++)
        if (!r->conn[i])
            slot = i;
    r->accepted++;
    c = slot < SLOTS && r->accepted <= r->o->connect_max_conns ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        r->refused++;
        close(a); /* over the cap: the tool sees the connection closed */
        return;
    }
    c->fd[0] = a;
    c->fd[1] = socket(up->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    r->conn[slot] = c;
    if (c->fd[1] < 0 ||
        (connect(c->fd[1], (const struct sockaddr *)up, d->addr_len[r->laddr[li]]) < 0 &&
         errno != EINPROGRESS)) {
        r->refused++;
        conn_close(r, slot);
        return;
    }
    c->connecting = true;
}

unsigned hale__sandbox_relay_fill(struct hale__sandbox_relay *r, struct pollfd *p, unsigned max)
{
    unsigned n = 0;
    bool free_slot = false;

    if (!r)
        return 0;
    for (unsigned i = 0; i < SLOTS; i++)
        free_slot |= r->conn[i] == NULL;
    r->n_ref = 0;
    for (unsigned i = 0; i < r->n_l && free_slot && n < max; i++) {
        p[n++] = (struct pollfd){.fd = r->lfd[i], .events = POLLIN};
        r->ref[r->n_ref++] = (struct slot_ref){0, i};
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        struct conn *c = r->conn[i];

        if (!c || n + 2 > max)
            continue;
        for (int k = 0; k < 2; k++) {
            /* fd[k] reads into dir[k] and writes what dir[1 - k] holds. */
            short ev = 0;

            if (c->connecting) {
                ev = k == 1 ? POLLOUT : 0;
            } else {
                if (!c->dir[k].eof && (c->dir[k].capped || c->dir[k].len == 0))
                    ev |= POLLIN;
                if (c->dir[1 - k].len > c->dir[1 - k].off)
                    ev |= POLLOUT;
            }
            if (ev == 0)
                continue; /* nothing to do on it: a hung-up peer must not spin the loop */
            p[n++] = (struct pollfd){.fd = c->fd[k], .events = ev};
            r->ref[r->n_ref++] = (struct slot_ref){1 + k, i};
        }
    }
    return n;
}

/* Propagate the end of dir k (tool->upstream for 0) once its buffer is drained. */
static void maybe_shut(struct conn *c, int k)
{
    struct dir *d = &c->dir[k];

    if ((d->eof || d->capped) && d->off == d->len && !d->shut) {
        (void)shutdown(c->fd[1 - k], SHUT_WR);
        d->shut = true;
    }
}

/* Read into dir k from fd[k]; false when the connection must close. */
static bool do_read(const struct hale__sandbox_relay *r, struct conn *c, int k)
{
    struct dir *d = &c->dir[k];
    uint64_t room = r->o->connect_max_bytes - d->total;
    char drop[4096];
    ssize_t n;

    /* Past the cap the source is drained and dropped rather than left unread, so the close
     * at the end is a FIN, not a reset that could cost the peer what it already got. */
    if (d->capped)
        n = recv(c->fd[k], drop, sizeof(drop), 0);
    else
        n = recv(c->fd[k], d->buf, room < sizeof(d->buf) ? (size_t)room : sizeof(d->buf), 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0) {
        d->eof = true;
    } else if (!d->capped) {
        d->len = (size_t)n;
        d->off = 0;
        d->total += (uint64_t)n;
        d->capped = d->total >= r->o->connect_max_bytes; /* this direction ends here */
    }
    maybe_shut(c, k);
    return true;
}

/* Write dir 1 - k's bytes to fd[k]; false when the connection must close. */
static bool do_write(struct hale__sandbox_relay *r, struct conn *c, int k)
{
    struct dir *d = &c->dir[1 - k];
    ssize_t n = send(c->fd[k], d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);

    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    d->off += (size_t)n;
    r->bytes += (uint64_t)n;
    if (d->off == d->len)
        d->len = d->off = 0;
    maybe_shut(c, 1 - k);
    return true;
}

void hale__sandbox_relay_events(struct hale__sandbox_relay *r, const struct pollfd *p, unsigned n)
{
    if (!r)
        return;
    for (unsigned j = 0; j < n && j < r->n_ref; j++) {
        const struct slot_ref *ref = &r->ref[j];
        struct conn *c;
        int k = ref->kind - 1, err = 0;
        socklen_t len = sizeof(err);
        bool ok = true;

        if (!p[j].revents)
            continue;
        if (ref->kind == 0) {
            accept_one(r, ref->idx);
            continue;
        }
        c = r->conn[ref->idx];
        if (!c)
            continue; /* closed by an event earlier in this round */
        if (c->connecting) {
            if (k != 1)
                continue;
            if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                r->refused++;
                conn_close(r, ref->idx);
                continue;
            }
            c->connecting = false;
            r->relayed++;
            continue;
        }
        if ((p[j].revents & (POLLIN | POLLHUP | POLLERR)) && !c->dir[k].eof &&
            (c->dir[k].capped || !c->dir[k].len))
            ok = do_read(r, c, k);
        if (ok && (p[j].revents & (POLLOUT | POLLERR)) && c->dir[1 - k].len > c->dir[1 - k].off)
            ok = do_write(r, c, k);
        /* Both directions ended and delivered: done. */
        if (!ok || (c->dir[0].shut && c->dir[0].eof && c->dir[1].shut && c->dir[1].eof))
            conn_close(r, ref->idx);
    }
}

void hale__sandbox_relay_free(struct hale__sandbox_relay *r, int status_fd)
{
    if (!r)
        return;
    for (unsigned i = 0; i < SLOTS; i++)
        conn_close(r, i);
    for (unsigned i = 0; i < r->n_l; i++)
        close(r->lfd[i]);
    hale__sandbox_status(status_fd, "relay %u %u %llu", r->relayed, r->refused,
                         (unsigned long long)r->bytes);
    free(r);
}
