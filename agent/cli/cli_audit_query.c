/* agent/cli/cli_audit_query.c - `hale audit query`, `hale audit show SEQ` and `hale audit
 * checkpoint`: read the audit log from the store (read-only, safe while `hale run` runs) and
 * print it as a table, JSON, JSON lines or CSV (docs/audit-query.md). */
#include "internal.h"

#include "cli/cli.h"
#include "hale/audit_query.h"
#include "hale/store.h"
#include "util/strparse.h"
#include "util/timeutil.h"

static const char query_usage[] =
    "usage: hale audit query [--db FILE | --config FILE] [--since T] [--until T]\n"
    "         [--incident ID] [--kind K] [--actor A] [--tool T] [--outcome O] [--text S]\n"
    "         [--limit N] [--cursor SEQ] [--oldest-first] [--format table|json|jsonl|csv]\n\n"
    "List audit leaves, newest first. T is an RFC 3339 time (2026-11-22T13:08:22Z) or a\n"
    "duration back from now (30m, 24h, 7d); --since is inclusive, --until exclusive. --text\n"
    "matches a case-insensitive substring of the stored leaf (canonical JSON). --limit is 1 to\n"
    "10000 (default 100); when more leaves match, the cursor of the next page is printed on\n"
    "stderr (--cursor SEQ continues after it). Exit status: 0 ok, 1 failure, 2 usage.\n";

static const char show_usage[] =
    "usage: hale audit show SEQ [--db FILE | --config FILE] [--json | --raw]\n\n"
    "Print one leaf: its exact stored bytes, its leaf hash (recomputed and compared with the\n"
    "stored one) and the first checkpoint that covers it, note as stored. --raw prints only\n"
    "the stored bytes. Exit status: 0 ok, 1 not found or failure, 2 usage.\n";

static const char checkpoint_usage[] =
    "usage: hale audit checkpoint [--db FILE | --config FILE]\n\n"
    "Print the latest signed checkpoint note exactly as stored, so that anyone can keep a\n"
    "copy (an anchor). Exit status: 0 ok, 1 none yet or failure, 2 usage.\n";

enum format { FMT_TABLE, FMT_JSON, FMT_JSONL, FMT_CSV };

/* s for a terminal: control and non-ASCII bytes become '?' (an escape sequence or a bidi
 * override in an actor name must not reach the terminal), cut at width. */
static const char *clean(const char *s, char *out, size_t width)
{
    size_t i;

    if (!s)
        return "-";
    for (i = 0; s[i] && i < width; i++)
        out[i] = (s[i] < 0x20 || s[i] == 0x7f || (unsigned char)s[i] >= 0x80) ? '?' : s[i];
    out[i] = '\0';
    return out;
}

static int print_table_row(const hale_audit_row *row, void *ud)
{
    char ts[48], kind[33], actor[25], tool[25], outcome[17], inc[24];

    (void)ud;
    snprintf(inc, sizeof(inc), "%lld", (long long)row->incident_id);
    printf("%-8llu %-30s %-20s %-8s %-16s %-16s %s\n", (unsigned long long)row->seq,
           hale_audit_time_format(row->ts_ns, ts, sizeof(ts)), clean(row->kind, kind, 20),
           row->incident_id ? inc : "-", clean(row->actor, actor, 16), clean(row->tool, tool, 16),
           clean(row->outcome, outcome, 16));
    return ferror(stdout) ? -EIO : 0;
}

static int print_jsonl_row(const hale_audit_row *row, void *ud)
{
    json_t *o = hale_audit_row_json(row);
    int r;

    (void)ud;
    if (!o)
        return -ENOMEM;
    r = json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (r < 0 || putchar('\n') == EOF)
        return -EIO;
    return 0;
}

/* One CSV field, always quoted. A value that a spreadsheet would run as a formula (starting
 * with = + - @ or a tab or CR) gets a leading apostrophe inside the quotes (OWASP). */
static void csv_field(FILE *f, const char *s, bool last)
{
    fputc('"', f);
    if (s && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r'))
        fputc('\'', f);
    for (; s && *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
    fputs(last ? "\r\n" : ",", f);
}

int hale_cli_audit_csv_row(FILE *f, const hale_audit_row *row)
{
    char seq[24], ts[48], inc[24], hex[2 * HALE_MERKLE_HASH_BYTES + 1];

    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)row->seq);
    snprintf(inc, sizeof(inc), "%lld", (long long)row->incident_id);
    hale_hex_encode(row->leaf_hash.b, sizeof(row->leaf_hash.b), hex);
    csv_field(f, seq, false);
    csv_field(f, hale_audit_time_format(row->ts_ns, ts, sizeof(ts)), false);
    csv_field(f, row->kind, false);
    csv_field(f, row->incident_id ? inc : "", false);
    csv_field(f, row->actor, false);
    csv_field(f, row->tool, false);
    csv_field(f, row->outcome, false);
    csv_field(f, hex, false);
    csv_field(f, row->body, true);
    return ferror(f) ? -EIO : 0;
}

static int print_csv_row(const hale_audit_row *row, void *ud)
{
    (void)ud;
    return hale_cli_audit_csv_row(stdout, row);
}

struct query_args {
    const char *db, *config, *since, *until, *incident, *limit, *cursor, *format;
    bool oldest_first;
};

/* Fill f from the command line; prints the problem and returns HALE_EXIT_USAGE on failure. */
static int parse_filter(const struct query_args *a, hale_audit_filter *f, enum format *fmt)
{
    static const char *const names[] = {"table", "json", "jsonl", "csv"};
    int64_t now_ns = hale_time_now_ms() * 1000000;
    hale_diag d = {{0}};
    uint64_t cursor;
    size_t i;

    for (i = 0; a->format && i < HALE_ARRAY_SIZE(names); i++)
        if (strcmp(a->format, names[i]) == 0)
            break;
    if (a->format && i == HALE_ARRAY_SIZE(names)) {
        fprintf(stderr, "hale audit query: --format: expected table, json, jsonl or csv\n");
        return HALE_EXIT_USAGE;
    }
    *fmt = a->format ? (enum format)i : FMT_TABLE;
    if (a->since && hale_audit_time_parse(a->since, now_ns, &f->since_ns, &d) < 0) {
        fprintf(stderr, "hale audit query: --since: %s\n", d.msg);
        return HALE_EXIT_USAGE;
    }
    if (a->until && hale_audit_time_parse(a->until, now_ns, &f->until_ns, &d) < 0) {
        fprintf(stderr, "hale audit query: --until: %s\n", d.msg);
        return HALE_EXIT_USAGE;
    }
    if (a->incident && (hale_parse_i64(a->incident, &f->incident_id) < 0 || f->incident_id <= 0)) {
        fprintf(stderr, "hale audit query: --incident: expected a positive id\n");
        return HALE_EXIT_USAGE;
    }
    if (a->limit && (hale_parse_u32(a->limit, &f->limit) < 0 || f->limit == 0 ||
                     f->limit > HALE_AUDIT_QUERY_MAX_LIMIT)) {
        fprintf(stderr, "hale audit query: --limit: expected 1 to %u\n",
                HALE_AUDIT_QUERY_MAX_LIMIT);
        return HALE_EXIT_USAGE;
    }
    if (a->cursor && hale_parse_u64(a->cursor, &cursor) < 0) {
        fprintf(stderr, "hale audit query: --cursor: expected a seq\n");
        return HALE_EXIT_USAGE;
    }
    f->has_cursor = a->cursor != NULL;
    f->cursor_seq = a->cursor ? cursor : 0;
    f->oldest_first = a->oldest_first;
    if (hale_audit_filter_check(f, &d) < 0) {
        fprintf(stderr, "hale audit query: %s\n", d.msg);
        return HALE_EXIT_USAGE;
    }
    return 0;
}

static int run_query(hale_store *s, const hale_audit_filter *f, enum format fmt)
{
    static const hale_audit_row_cb cbs[] = {print_table_row, NULL, print_jsonl_row, print_csv_row};
    hale_diag d = {{0}};
    uint64_t next = 0;
    bool more = false;
    json_t *out = NULL;
    int r;

    if (fmt == FMT_JSON) {
        r = hale_audit_query_json(s, f, &out, &d);
        if (r == 0) {
            r = json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
            putchar('\n');
        }
        json_decref(out);
    } else {
        if (fmt == FMT_TABLE)
            printf("%-8s %-30s %-20s %-8s %-16s %-16s %s\n", "SEQ", "TIME", "KIND", "INCIDENT",
                   "ACTOR", "TOOL", "OUTCOME");
        if (fmt == FMT_CSV)
            fputs("seq,ts,kind,incident_id,actor,tool,outcome,leaf_hash,body\r\n", stdout);
        r = hale_audit_query(s, f, cbs[fmt], NULL, &next, &more, &d);
        if (r >= 0 && more)
            fprintf(stderr, "more leaves match: continue with --cursor %llu\n",
                    (unsigned long long)next);
    }
    if (r < 0) {
        fprintf(stderr, "hale audit query: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
        return r == -EINVAL ? HALE_EXIT_USAGE : HALE_EXIT_FAILURE;
    }
    return fflush(stdout) == 0 ? HALE_EXIT_OK : HALE_EXIT_FAILURE;
}

int hale_cmd_audit_query(int argc, char **argv)
{
    struct query_args a = {0};
    hale_audit_filter f = {0};
    hale_cli_opt opts[] = {{"--db", true, &a.db, NULL},
                           {"--config", true, &a.config, NULL},
                           {"--since", true, &a.since, NULL},
                           {"--until", true, &a.until, NULL},
                           {"--incident", true, &a.incident, NULL},
                           {"--kind", true, &f.kind, NULL},
                           {"--actor", true, &f.actor, NULL},
                           {"--tool", true, &f.tool, NULL},
                           {"--outcome", true, &f.outcome, NULL},
                           {"--text", true, &f.text, NULL},
                           {"--limit", true, &a.limit, NULL},
                           {"--cursor", true, &a.cursor, NULL},
                           {"--format", true, &a.format, NULL},
                           {"--oldest-first", false, NULL, &a.oldest_first},
                           {NULL, false, NULL, NULL}};
    hale_store *s = NULL;
    enum format fmt;
    char dir[4096];
    int r;

    r = hale_cli_parse(argc, argv, opts, query_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    r = parse_filter(&a, &f, &fmt);
    if (r != 0)
        return r;
    r = hale_cli_audit_open("query", a.db, a.config, &s, dir, sizeof(dir));
    if (r != 0)
        return r;
    r = run_query(s, &f, fmt);
    hale_store_free(s);
    return r;
}

struct show {
    bool as_json;  /* --json */
    bool raw;      /* --raw */
    hale_store *s; /* for the covering checkpoint */
};

static int print_show_json(const hale_audit_row *row, const hale_audit_ckpt *ck, int cr)
{
    char hex[2 * HALE_MERKLE_HASH_BYTES + 1];
    json_t *o = json_object(), *c = NULL;
    int r;

    if (!o)
        return -ENOMEM;
    hale_hex_encode(row->leaf_hash.b, sizeof(row->leaf_hash.b), hex);
    if (cr == 0)
        c = json_pack("{s:I,s:s%}", "size", (json_int_t)ck->size, "note", ck->note, ck->note_len);
    r = json_object_set_new(o, "seq", json_integer((json_int_t)row->seq));
    r |= json_object_set_new(o, "body", json_stringn(row->body, row->body_len));
    r |= json_object_set_new(o, "leaf_hash", json_string(hex));
    r |= json_object_set_new(o, "leaf_hash_ok", json_boolean(hale_audit_row_check(row)));
    r |= json_object_set_new(o, "checkpoint", c ? c : json_null());
    if (r == 0)
        r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
    putchar('\n');
    json_decref(o);
    return r;
}

static int print_show(const hale_audit_row *row, void *ud)
{
    struct show *sh = ud;
    char ts[48], hex[2 * HALE_MERKLE_HASH_BYTES + 1];
    hale_audit_ckpt ck = {0};
    int cr, r = 0;

    if (sh->raw)
        return fwrite(row->body, 1, row->body_len, stdout) == row->body_len ? 0 : -EIO;
    cr = hale_audit_ckpt_covering(sh->s, row->seq, &ck);
    if (cr < 0 && cr != HALE_ENOTFOUND)
        return cr;
    if (sh->as_json) {
        r = print_show_json(row, &ck, cr);
    } else {
        hale_hex_encode(row->leaf_hash.b, sizeof(row->leaf_hash.b), hex);
        printf("seq         %llu\ntime        %s\nleaf hash   %s (%s)\nbody        ",
               (unsigned long long)row->seq, hale_audit_time_format(row->ts_ns, ts, sizeof(ts)),
               hex, hale_audit_row_check(row) ? "matches the body" : "DOES NOT MATCH the body");
        fwrite(row->body, 1, row->body_len, stdout);
        if (cr == 0)
            printf("\ncheckpoint  size %llu, first to cover this leaf:\n%s",
                   (unsigned long long)ck.size, ck.note);
        else
            printf("\ncheckpoint  none covers this leaf yet (unsealed)\n");
    }
    hale_audit_ckpt_release(&ck);
    return r;
}

int hale_cmd_audit_show(int argc, char **argv)
{
    const char *db = NULL, *config = NULL, *pos[1] = {NULL};
    struct show sh = {0};
    hale_cli_opt opts[] = {{"--db", true, &db, NULL},
                           {"--config", true, &config, NULL},
                           {"--json", false, NULL, &sh.as_json},
                           {"--raw", false, NULL, &sh.raw},
                           {NULL, false, NULL, NULL}};
    char dir[4096];
    uint64_t seq;
    int n = 0, r;

    r = hale_cli_parse(argc, argv, opts, show_usage, pos, 1, &n);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n != 1 || hale_parse_u64(pos[0], &seq) < 0 || (sh.as_json && sh.raw)) {
        fprintf(stderr, "hale audit show: expected one SEQ (a leaf number)\n%s", show_usage);
        return HALE_EXIT_USAGE;
    }
    r = hale_cli_audit_open("show", db, config, &sh.s, dir, sizeof(dir));
    if (r != 0)
        return r;
    r = hale_audit_leaf_get(sh.s, seq, print_show, &sh);
    hale_store_free(sh.s);
    if (r == HALE_ENOTFOUND)
        fprintf(stderr, "hale audit show: no leaf %llu\n", (unsigned long long)seq);
    else if (r < 0)
        fprintf(stderr, "hale audit show: %s\n", hale_strerror(r));
    return r < 0 || fflush(stdout) != 0 ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}

int hale_cmd_audit_checkpoint(int argc, char **argv)
{
    const char *db = NULL, *config = NULL;
    hale_cli_opt opts[] = {
        {"--db", true, &db, NULL}, {"--config", true, &config, NULL}, {NULL, false, NULL, NULL}};
    hale_audit_ckpt ck = {0};
    hale_store *s = NULL;
    char dir[4096];
    int r;

    r = hale_cli_parse(argc, argv, opts, checkpoint_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    r = hale_cli_audit_open("checkpoint", db, config, &s, dir, sizeof(dir));
    if (r != 0)
        return r;
    r = hale_audit_ckpt_latest(s, &ck);
    hale_store_free(s);
    if (r == 0 && fwrite(ck.note, 1, ck.note_len, stdout) != ck.note_len)
        r = -EIO;
    hale_audit_ckpt_release(&ck);
    if (r == HALE_ENOTFOUND)
        fprintf(stderr, "hale audit checkpoint: no signed checkpoint yet\n");
    else if (r < 0)
        fprintf(stderr, "hale audit checkpoint: %s\n", hale_strerror(r));
    return r < 0 || fflush(stdout) != 0 ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}
