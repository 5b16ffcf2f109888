/* agent/cli/cli_policy_replay.c - `hale policy replay --since 7d --candidate DIR`: what a
 * candidate policy set would have decided about every proposal the controller recorded in the
 * period (audit leaves of kind "decision" carrying the original request under "request"),
 * compared with what was decided then. Reads the store read-only: safe while hale runs. */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/policy.h"
#include "hale/store.h"
#include "util/timeutil.h"

static const char usage[] =
    "usage: hale policy replay --since T --candidate DIR [--until T] [--db FILE | --config FILE]\n"
    "                          [--json]\n\n"
    "Re-evaluate every proposal recorded in the audit log from T on (RFC 3339, or a duration\n"
    "back from now: 24h, 7d) against the policy set in DIR, and print what would change: the\n"
    "proposals that would now run, would now be denied, would now need approval, and how many\n"
    "are unchanged. Each is evaluated at its request's \"time\" (else when it was recorded).\n"
    "Limits (rate, cooldown, concurrency, blast radius) are evaluated with no earlier actions:\n"
    "the counters as they were then are not recorded. Proposals recorded without their request\n"
    "are counted as skipped. Exit status: 0 replayed, 1 failure, 2 usage or invalid policy.\n";

#define PAGE_ROWS 1000u

struct replay {
    const hale_policy *p; /* the candidate */
    json_t *run;          /* entries that would now run */
    json_t *deny;         /* would now be denied */
    json_t *ask;          /* would now need approval */
    json_t *skipped;      /* {seq, reason} */
    uint64_t replayed;    /* decisions looked at */
    uint64_t unchanged;   /* same effect as then */
    uint64_t last_seq;    /* cursor */
};

/* Without the counters of the time, limits see no history. */
static int no_history(void *ud, const hale_policy_count_query *q, int64_t *ret)
{
    (void)ud, (void)q;
    *ret = 0;
    return 0;
}

static int parse_effect(const char *s, hale_policy_effect *ret)
{
    static const hale_policy_effect all[] = {HALE_POLICY_ALLOW, HALE_POLICY_DENY,
                                             HALE_POLICY_REQUIRE_APPROVAL};

    for (size_t i = 0; s && i < HALE_ARRAY_SIZE(all); i++)
        if (strcmp(s, hale_policy_effect_name(all[i])) == 0) {
            *ret = all[i];
            return 0;
        }
    return -EINVAL;
}

static int skip(struct replay *rp, const hale_audit_row *row, const char *why)
{
    json_t *e = json_pack("{s:I,s:s}", "seq", (json_int_t)row->seq, "reason", why);

    return e && json_array_append_new(rp->skipped, e) == 0 ? 0 : -ENOMEM;
}

/* One changed proposal as reported. */
static json_t *change(const hale_audit_row *row, const json_t *body, const hale_policy_request *req,
                      hale_policy_effect was, const hale_policy_verdict *v)
{
    char ts[48];
    json_t *e, *reasons = json_array();

    (void)hale_audit_time_format(row->ts_ns, ts, sizeof(ts));
    for (size_t i = 0; reasons && i < hale_policy_verdict_reason_count(v); i++)
        if (json_array_append_new(reasons, json_string(hale_policy_verdict_reason(v, i))) < 0) {
            json_decref(reasons);
            return NULL;
        }
    e = json_pack("{s:I,s:s,s:O?,s:O?,s:s,s:s,s:s,s:s,s:o}", "seq", (json_int_t)row->seq, "ts", ts,
                  "decision_id", json_object_get(body, "decision_id"), "incident_id",
                  json_object_get(body, "incident_id"), "tool", hale_policy_request_tool(req),
                  "digest", hale_policy_request_digest_hex(req), "was",
                  hale_policy_effect_name(was), "now",
                  hale_policy_effect_name(hale_policy_verdict_effect(v)), "reasons", reasons);
    return e;
}

static int on_row(const hale_audit_row *row, void *ud)
{
    struct replay *rp = ud;
    hale_policy_counts counts = {no_history, NULL};
    hale_policy_request *req = NULL;
    hale_policy_verdict *v = NULL;
    hale_policy_effect was, now;
    hale_diag d = {{0}};
    json_t *body, *request, *e, *into;
    int64_t at_ms;
    int r;

    rp->last_seq = row->seq;
    rp->replayed++;
    body = json_loadb(row->body, row->body_len, 0, NULL);
    request = json_object_get(body, "request");
    if (!json_is_object(request)) {
        r = skip(rp, row, "no \"request\" member");
        goto out;
    }
    if (parse_effect(json_string_value(json_object_get(body, "outcome")), &was) < 0) {
        r = skip(rp, row, "outcome: expected allow, deny or require_approval");
        goto out;
    }
    r = hale_policy_request_from_json(request, &req, &d);
    if (r == -ENOMEM)
        goto out;
    if (r < 0) {
        r = skip(rp, row, d.msg[0] ? d.msg : hale_strerror(r));
        goto out;
    }
    at_ms = hale_policy_request_time_ms(req);
    if (at_ms == 0)
        at_ms = row->ts_ns / 1000000;
    if ((r = hale_policy_eval(rp->p, req, &counts, at_ms, &v)) < 0)
        goto out;
    now = hale_policy_verdict_effect(v);
    if (now == was) {
        rp->unchanged++;
        goto out;
    }
    into = now == HALE_POLICY_ALLOW ? rp->run : now == HALE_POLICY_DENY ? rp->deny : rp->ask;
    e = change(row, body, req, was, v);
    r = e && json_array_append_new(into, e) == 0 ? 0 : -ENOMEM;
out:
    hale_policy_verdict_free(v);
    hale_policy_request_free(req);
    json_decref(body);
    return r;
}

static int run_query(hale_store *s, int64_t since_ns, int64_t until_ns, struct replay *rp)
{
    hale_audit_filter f = {.since_ns = since_ns,
                           .until_ns = until_ns,
                           .kind = HALE_AUDIT_KIND_DECISION,
                           .limit = PAGE_ROWS,
                           .oldest_first = true};
    hale_diag d = {{0}};
    bool more = true;
    int r = 0;

    while (more) {
        r = hale_audit_query(s, &f, on_row, rp, NULL, &more, &d);
        if (r < 0) {
            fprintf(stderr, "hale policy replay: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
            return HALE_EXIT_FAILURE;
        }
        f.has_cursor = true;
        f.cursor_seq = rp->last_seq;
    }
    return 0;
}

static void print_section(const char *title, const json_t *arr)
{
    size_t i, j;
    json_t *e, *why;

    if (json_array_size(arr) == 0)
        return;
    printf("\n%s:\n", title);
    json_array_foreach(arr, i, e)
    {
        const json_t *dec = json_object_get(e, "decision_id");

        printf("  seq %lld  %s  %s  %s -> %s",
               (long long)json_integer_value(json_object_get(e, "seq")),
               json_string_value(json_object_get(e, "ts")),
               json_string_value(json_object_get(e, "tool")),
               json_string_value(json_object_get(e, "was")),
               json_string_value(json_object_get(e, "now")));
        if (json_is_string(dec))
            printf("  decision %s", json_string_value(dec));
        else if (json_is_integer(dec))
            printf("  decision %lld", (long long)json_integer_value(dec));
        printf("\n");
        json_array_foreach(json_object_get(e, "reasons"), j, why)
            printf("      %s\n", json_string_value(why));
    }
}

static int report(const struct replay *rp, const char *dir, const char *since, bool as_json)
{
    json_t *out;
    char *text;

    if (!as_json) {
        printf("replayed %llu decisions since %s against %s (%zu rules, sha256 %s)\n",
               (unsigned long long)rp->replayed, since, dir, hale_policy_rule_count(rp->p),
               hale_policy_hash_hex(rp->p));
        printf("  unchanged                %llu\n  would now run            %zu\n"
               "  would now be denied      %zu\n  would now need approval  %zu\n"
               "  skipped                  %zu\n",
               (unsigned long long)rp->unchanged, json_array_size(rp->run),
               json_array_size(rp->deny), json_array_size(rp->ask), json_array_size(rp->skipped));
        print_section("would now run", rp->run);
        print_section("would now be denied", rp->deny);
        print_section("would now need approval", rp->ask);
        return HALE_EXIT_OK;
    }
    out = json_pack("{s:s,s:{s:s,s:s,s:I},s:I,s:I,s:O,s:O,s:O,s:O}", "since", since, "candidate",
                    "dir", dir, "policy_sha256", hale_policy_hash_hex(rp->p), "rules",
                    (json_int_t)hale_policy_rule_count(rp->p), "replayed", (json_int_t)rp->replayed,
                    "unchanged", (json_int_t)rp->unchanged, "would_run", rp->run, "would_deny",
                    rp->deny, "would_need_approval", rp->ask, "skipped", rp->skipped);
    text = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(out);
    if (!text)
        return HALE_EXIT_FAILURE;
    printf("%s\n", text);
    free(text);
    return HALE_EXIT_OK;
}

/* The store of --db FILE, else of the data_dir of --config FILE, read-only. */
static int open_store(const char *db, const char *config, hale_store **ret)
{
    return hale_cli_open_store("policy replay", db, config, true, ret, NULL, 0);
}

int hale_cmd_policy_replay(int argc, char **argv)
{
    const char *since = NULL, *until = NULL, *candidate = NULL, *db = NULL, *config = NULL;
    bool as_json = false;
    hale_cli_opt opts[] = {{"--since", true, &since, NULL},
                           {"--until", true, &until, NULL},
                           {"--candidate", true, &candidate, NULL},
                           {"--db", true, &db, NULL},
                           {"--config", true, &config, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    struct replay rp = {0};
    int64_t now_ns = hale_time_now_ms() * 1000000, since_ns = 0, until_ns = 0;
    hale_policy *p = NULL;
    hale_store *s = NULL;
    hale_diag d = {{0}};
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage, NULL, 0, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (!since || !candidate) {
        fprintf(stderr, "hale policy replay: expected --since T and --candidate DIR\n%s", usage);
        return HALE_EXIT_USAGE;
    }
    if (db && config) {
        fprintf(stderr, "hale policy replay: give --db or --config, not both\n");
        return HALE_EXIT_USAGE;
    }
    if (hale_audit_time_parse(since, now_ns, &since_ns, &d) < 0 ||
        (until && hale_audit_time_parse(until, now_ns, &until_ns, &d) < 0)) {
        fprintf(stderr, "hale policy replay: %s: %s\n", until && since_ns ? "--until" : "--since",
                d.msg);
        return HALE_EXIT_USAGE;
    }
    if ((r = hale_policy_load(candidate, &p, &d)) < 0) {
        fprintf(stderr, "hale policy replay: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
        return HALE_EXIT_USAGE;
    }
    if ((r = open_store(db, config, &s)) != 0)
        goto out;
    rp.p = p;
    rp.run = json_array();
    rp.deny = json_array();
    rp.ask = json_array();
    rp.skipped = json_array();
    if (!rp.run || !rp.deny || !rp.ask || !rp.skipped) {
        r = HALE_EXIT_FAILURE;
        goto out;
    }
    r = run_query(s, since_ns, until_ns, &rp);
    if (r == 0)
        r = report(&rp, candidate, since, as_json);
out:
    json_decref(rp.run);
    json_decref(rp.deny);
    json_decref(rp.ask);
    json_decref(rp.skipped);
    hale_store_free(s);
    hale_policy_unref(p);
    return r;
}
