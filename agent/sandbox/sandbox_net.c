/* agent/sandbox/sandbox_net.c - the network a tool that declares "connect" destinations gets:
 * its own namespace still, where each destination's address sits on lo with a listener on
 * ADDR:PORT that the launcher's forwarder (sandbox_relay.c) serves from the host's network.
 * The names are resolved on the host, before the child leaves it, and written to a private
 * /etc/hosts, so the tool connects to the real name, address and port (TLS SNI and Host
 * headers stay right) and reaches nothing else. */
#define _GNU_SOURCE /* struct ucred, NI_MAXHOST */
#include "internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/strparse.h"

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* "1.2.3.4" or "[::1]" into buf. */
static void addr_text(const struct sockaddr_storage *a, char *buf, size_t size)
{
    char t[INET6_ADDRSTRLEN] = "?";

    if (a->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, t, sizeof(t));
        snprintf(buf, size, "%s", t);
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, t, sizeof(t));
        snprintf(buf, size, "[%s]", t);
    }
}

static int resolve_one(struct hale__sandbox_dest *d)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV},
                    *res = NULL;
    char port[8];
    int r;

    if (hale_parse_hostport(d->spec, d->host, sizeof(d->host), &d->port) < 0 || d->port == 0)
        return -EINVAL;
    snprintf(port, sizeof(port), "%u", (unsigned)d->port);
    r = getaddrinfo(d->host, port, &hints, &res);
    if (r != 0)
        return r == EAI_SYSTEM ? -errno : r == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
    d->n_addr = 0;
    for (struct addrinfo *ai = res; ai && d->n_addr < HALE_SANDBOX_MAX_ADDRS; ai = ai->ai_next) {
        struct sockaddr_storage ss = {0};
        bool dup = false;

        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(ss))
            continue;
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        for (unsigned k = 0; k < d->n_addr; k++)
            dup |= same_addr(&d->addr[k], &ss);
        if (dup)
            continue;
        d->addr[d->n_addr] = ss;
        d->addr_len[d->n_addr++] = (socklen_t)ai->ai_addrlen;
    }
    freeaddrinfo(res);
    return d->n_addr ? 0 : -EHOSTUNREACH;
}

int hale__sandbox_resolve(struct hale__sandbox_opts *o, const char **ret_what)
{
    for (unsigned i = 0; i < o->n_dest; i++) {
        int r = resolve_one(&o->dest[i]);

        if (r < 0) {
            *ret_what = o->dest[i].spec;
            return r;
        }
        for (unsigned k = 0; k < o->dest[i].n_addr; k++) {
            char a[INET6_ADDRSTRLEN + 2];

            addr_text(&o->dest[i].addr[k], a, sizeof(a));
            hale__sandbox_status(o->status_fd, "grant %s %s", o->dest[i].spec, a);
        }
    }
    return 0;
}

static int lo_up(void)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

    if (fd < 0)
        return -errno;
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        r = -errno;
    ifr.ifr_flags |= IFF_UP;
    if (r == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        r = -errno;
    close(fd);
    return r;
}

/* RTM_NEWADDR of a on lo (a /32 or /128, no duplicate address detection). */
static int add_addr(int nl, const struct sockaddr_storage *a)
{
    struct {
        struct nlmsghdr nh;
        struct ifaddrmsg ifa;
        char attrs[64];
    } req;
    struct {
        struct nlmsghdr nh;
        struct nlmsgerr err;
    } ack;
    const bool v4 = a->ss_family == AF_INET;
    const void *raw = v4 ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
                         : (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;
    const size_t alen = v4 ? 4 : 16;
    struct rtattr *rta;
    ssize_t n;

    if (v4 && (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127)
        return 0; /* 127.0.0.0/8 is lo's already */
    if (!v4 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr))
        return 0;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_type = RTM_NEWADDR;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    req.nh.nlmsg_seq = 1;
    req.ifa.ifa_family = (unsigned char)a->ss_family;
    req.ifa.ifa_prefixlen = v4 ? 32 : 128;
    req.ifa.ifa_flags = IFA_F_NODAD | IFA_F_PERMANENT;
    req.ifa.ifa_scope = RT_SCOPE_HOST;
    req.ifa.ifa_index = if_nametoindex("lo");
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
    for (int t = 0; t < 2; t++) { /* IFA_LOCAL and IFA_ADDRESS, both the address */
        rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
        rta->rta_type = t ? IFA_ADDRESS : IFA_LOCAL;
        rta->rta_len = (unsigned short)RTA_LENGTH(alen);
        memcpy(RTA_DATA(rta), raw, alen);
        req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    }
    if (send(nl, &req, req.nh.nlmsg_len, 0) < 0)
        return -errno;
    n = recv(nl, &ack, sizeof(ack), 0);
    if (n < 0)
        return -errno;
    if ((size_t)n < sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR)
        return -EPROTO;
    return ack.err.error == -EEXIST ? 0 : ack.err.error;
}

/* The kernel installs the local route of a new IPv6 address from a work queue, even without
 * duplicate address detection: until it is there a connect fails with ENETUNREACH. Wait for
 * it (a UDP connect is a route lookup and sends nothing), at most about a second. */
static int wait_routable(const struct sockaddr_storage *a)
{
    struct sockaddr_in6 to = *(const struct sockaddr_in6 *)a;
    int fd, r = -ENETUNREACH;

    if (a->ss_family != AF_INET6)
        return 0;
    to.sin6_port = htons(9);
    fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    for (int i = 0; i < 1000 && r == -ENETUNREACH; i++) {
        r = connect(fd, (const struct sockaddr *)&to, sizeof(to)) < 0 ? -errno : 0;
        if (r == -ENETUNREACH)
            (void)nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    close(fd);
    return r;
}

static int listen_on(const struct sockaddr_storage *a, socklen_t len)
{
    int one = 1, fd = socket(a->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -errno;
    if ((a->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)a, len) < 0 || listen(fd, 64) < 0) {
        int r = -errno;

        close(fd);
        return r;
    }
    return fd;
}

/* Listen on every address and hand the listeners over in one message: each fd comes with
 * two bytes, its destination and address index. */
static int make_listeners(const struct hale__sandbox_opts *o, const char **ret_stage)
{
    enum { MAXFD = HALE_SANDBOX_MAX_CONNECT * HALE_SANDBOX_MAX_ADDRS };
    int fds[MAXFD];
    unsigned char tags[2 * MAXFD];
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = tags};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf};
    struct cmsghdr *c;
    unsigned n = 0;
    int r = 0;

    for (unsigned i = 0; i < o->n_dest && r >= 0; i++)
        for (unsigned k = 0; k < o->dest[i].n_addr && r >= 0; k++) {
            r = listen_on(&o->dest[i].addr[k], o->dest[i].addr_len[k]);
            if (r == -EADDRINUSE) { /* two names for one address and port: one listener */
                r = 0;
                continue;
            }
            if (r >= 0) {
                tags[2 * n] = (unsigned char)i;
                tags[2 * n + 1] = (unsigned char)k;
                fds[n++] = r;
            }
        }
    if (r < 0) {
        *ret_stage = "net-listen";
        goto out;
    }
    iov.iov_len = 2 * n;
    msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    if (n && sendmsg(o->relay_fd, &msg, MSG_NOSIGNAL) < 0) {
        r = -errno;
        *ret_stage = "net-pass";
    }
out:
    for (unsigned i = 0; i < n; i++)
        close(fds[i]); /* the launcher holds them now; the tool must not accept on them */
    return r < 0 ? r : 0;
}

int hale__sandbox_net_setup(const struct hale__sandbox_opts *o, const char **ret_stage)
{
    int nl, r;

    *ret_stage = "net-lo";
    if ((r = lo_up()) < 0)
        return r;
    *ret_stage = "net-addr";
    nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0)
        return -errno;
    for (unsigned i = 0; i < o->n_dest && r == 0; i++)
        for (unsigned k = 0; k < o->dest[i].n_addr && r == 0; k++)
            r = add_addr(nl, &o->dest[i].addr[k]);
    close(nl);
    for (unsigned i = 0; i < o->n_dest && r == 0; i++)
        for (unsigned k = 0; k < o->dest[i].n_addr && r == 0; k++)
            r = wait_routable(&o->dest[i].addr[k]);
    if (r < 0)
        return r;
    return make_listeners(o, ret_stage);
}

int hale__sandbox_write_hosts(const struct hale__sandbox_opts *o, const char *stage)
{
    char path[64], line[INET6_ADDRSTRLEN + 300];
    int fd, r = 0;

    snprintf(path, sizeof(path), "%s/etc", stage);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    snprintf(path, sizeof(path), "%s/etc/hosts", stage);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    snprintf(line, sizeof(line), "127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
    if (write(fd, line, strlen(line)) < 0)
        r = -errno;
    for (unsigned i = 0; i < o->n_dest && r == 0; i++) {
        struct in6_addr tmp;

        if (inet_pton(AF_INET, o->dest[i].host, &tmp) == 1 ||
            inet_pton(AF_INET6, o->dest[i].host, &tmp) == 1)
            continue; /* a numeric host needs no entry */
        for (unsigned k = 0; k < o->dest[i].n_addr && r == 0; k++) {
            char a[INET6_ADDRSTRLEN + 2];
            size_t alen;

            addr_text(&o->dest[i].addr[k], a, sizeof(a));
            alen = strlen(a);
            if (a[0] == '[') { /* hosts(5) wants IPv6 without brackets */
                memmove(a, a + 1, alen - 2);
                a[alen - 2] = '\0';
            }
            snprintf(line, sizeof(line), "%s %s\n", a, o->dest[i].host);
            if (write(fd, line, strlen(line)) < 0)
                r = -errno;
        }
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}
