/* agent/util/err.c - names and texts for hale's one error currency (HALE_E* and -errno).
 * Static tables only: strerror() may share one buffer between threads, these strings never do. */
#include "internal.h"

struct err_entry {
    int code;         /* HALE_E* (negative) or a positive errno value */
    const char *name; /* "ESCHEMA", "ENOENT" */
    const char *text; /* human description */
};

static const struct err_entry hale_errs[] = {
#define HALE_ERR_ROW(n, v, t) {v, #n, t},
    HALE_ERR_MAP(HALE_ERR_ROW)
#undef HALE_ERR_ROW
};

/* POSIX errno values; Linux aliases (EWOULDBLOCK == EAGAIN, ENOTSUP == EOPNOTSUPP) resolve to the
 * first row with that value, so duplicates in this table are harmless. */
#define ERRNO_ROW(e, t)                                                                            \
    {                                                                                              \
        e, #e, t                                                                                   \
    }
static const struct err_entry errnos[] = {
    ERRNO_ROW(EPERM, "operation not permitted"),
    ERRNO_ROW(ENOENT, "no such file or directory"),
    ERRNO_ROW(ESRCH, "no such process"),
    ERRNO_ROW(EINTR, "interrupted system call"),
    ERRNO_ROW(EIO, "input/output error"),
    ERRNO_ROW(ENXIO, "no such device or address"),
    ERRNO_ROW(E2BIG, "argument list too long"),
    ERRNO_ROW(ENOEXEC, "exec format error"),
    ERRNO_ROW(EBADF, "bad file descriptor"),
    ERRNO_ROW(ECHILD, "no child processes"),
    ERRNO_ROW(EAGAIN, "resource temporarily unavailable"),
    ERRNO_ROW(ENOMEM, "out of memory"),
    ERRNO_ROW(EACCES, "permission denied"),
    ERRNO_ROW(EFAULT, "bad address"),
    ERRNO_ROW(EBUSY, "device or resource busy"),
    ERRNO_ROW(EEXIST, "file exists"),
    ERRNO_ROW(EXDEV, "invalid cross-device link"),
    ERRNO_ROW(ENOTDIR, "not a directory"),
    ERRNO_ROW(EISDIR, "is a directory"),
    ERRNO_ROW(EINVAL, "invalid argument"),
    ERRNO_ROW(ENFILE, "too many open files in system"),
    ERRNO_ROW(ENOTTY, "inappropriate ioctl for device"),
    ERRNO_ROW(ETXTBSY, "text file busy"),
    ERRNO_ROW(EFBIG, "file too large"),
    ERRNO_ROW(ENOSPC, "no space left on device"),
    ERRNO_ROW(ESPIPE, "illegal seek"),
    ERRNO_ROW(EROFS, "read-only file system"),
    ERRNO_ROW(EMLINK, "too many links"),
    ERRNO_ROW(EPIPE, "broken pipe"),
    ERRNO_ROW(ERANGE, "numerical result out of range"),
    ERRNO_ROW(EDEADLK, "resource deadlock avoided"),
    ERRNO_ROW(ENAMETOOLONG, "file name too long"),
    ERRNO_ROW(ENOLCK, "no locks available"),
    ERRNO_ROW(ENOSYS, "function not implemented"),
    ERRNO_ROW(ENOTEMPTY, "directory not empty"),
    ERRNO_ROW(EIDRM, "identifier removed"),
    ERRNO_ROW(ENOLINK, "link has been severed"),
    ERRNO_ROW(EPROTO, "protocol error"),
    ERRNO_ROW(EBADMSG, "bad message"),
    ERRNO_ROW(EOVERFLOW, "value too large for defined data type"),
    ERRNO_ROW(ENOTSOCK, "socket operation on non-socket"),
    ERRNO_ROW(EMSGSIZE, "message too long"),
    ERRNO_ROW(ENOPROTOOPT, "protocol not available"),
    ERRNO_ROW(EOPNOTSUPP, "operation not supported"),
    ERRNO_ROW(EADDRNOTAVAIL, "cannot assign requested address"),
    ERRNO_ROW(ENETRESET, "network dropped connection on reset"),
    ERRNO_ROW(ECONNRESET, "connection reset by peer"),
    ERRNO_ROW(ENOBUFS, "no buffer space available"),
    ERRNO_ROW(ENOTCONN, "transport endpoint is not connected"),
    ERRNO_ROW(ETIMEDOUT, "connection timed out"),
    ERRNO_ROW(EHOSTUNREACH, "no route to host"),
    ERRNO_ROW(EALREADY, "operation already in progress"),
    ERRNO_ROW(ESTALE, "stale file handle"),
    ERRNO_ROW(EDQUOT, "disk quota exceeded"),
    ERRNO_ROW(ECANCELED, "operation canceled"),
    ERRNO_ROW(EOWNERDEAD, "owner died"),
    ERRNO_ROW(ENOTRECOVERABLE, "state not recoverable"),
    ERRNO_ROW(ENODEV, "no such device"),
    ERRNO_ROW(EMFILE, "too many open files"),
    ERRNO_ROW(EDOM, "numerical argument out of domain"),
    ERRNO_ROW(ELOOP, "too many levels of symbolic links"),
    ERRNO_ROW(ENOMSG, "no message of desired type"),
    ERRNO_ROW(EMULTIHOP, "multihop attempted"),
    ERRNO_ROW(EILSEQ, "invalid or incomplete multibyte or wide character"),
    ERRNO_ROW(EDESTADDRREQ, "destination address required"),
    ERRNO_ROW(EPROTOTYPE, "protocol wrong type for socket"),
    ERRNO_ROW(EPROTONOSUPPORT, "protocol not supported"),
    ERRNO_ROW(EAFNOSUPPORT, "address family not supported by protocol"),
    ERRNO_ROW(EADDRINUSE, "address already in use"),
    ERRNO_ROW(ENETDOWN, "network is down"),
    ERRNO_ROW(ENETUNREACH, "network is unreachable"),
    ERRNO_ROW(ECONNABORTED, "software caused connection abort"),
    ERRNO_ROW(EISCONN, "transport endpoint is already connected"),
    ERRNO_ROW(ECONNREFUSED, "connection refused"),
    ERRNO_ROW(EINPROGRESS, "operation now in progress"),
    ERRNO_ROW(EWOULDBLOCK, "resource temporarily unavailable"),
    ERRNO_ROW(ENOTSUP, "operation not supported"),
};
#undef ERRNO_ROW

static const struct err_entry *find(int err)
{
    size_t i;

    if (err <= HALE_ESCHEMA) {
        for (i = 0; i < HALE_ARRAY_SIZE(hale_errs); i++)
            if (hale_errs[i].code == err)
                return &hale_errs[i];
        return NULL;
    }
    if (err >= 0)
        return NULL;
    for (i = 0; i < HALE_ARRAY_SIZE(errnos); i++)
        if (errnos[i].code == -err)
            return &errnos[i];
    return NULL;
}

const char *hale_strerror(int err)
{
    const struct err_entry *e;

    if (err == 0)
        return "success";
    e = find(err);
    return e ? e->text : "unknown error";
}

const char *hale_errname(int err)
{
    const struct err_entry *e;

    if (err == 0)
        return "OK";
    e = find(err);
    return e ? e->name : "EUNKNOWN";
}
