/* tests/test_policy_store.c - the store-backed parts of the policy engine: the action ledger
 * that keeps limit counters (each limit type, across a restart: the SQLite file is closed and
 * opened again) and pending approvals (quorum, expiry, every refusal, the approved action). */
#include "fixture.h"

#include <sodium.h>

#include "hale/err.h"
#include "hale/policy.h"
#include "hale/store.h"

#define MIN_MS INT64_C(60000)
#define T0     INT64_C(1795341600000) /* 2026-11-22T10:00:00Z */

struct env {
    char *dir;
    char path[512];
    hale_store *s;
    hale_policy_ledger *l;
    hale_approvals *a;
};

static int open_all(struct env *e)
{
    hale_store_opts o = {.path = e->path, .sync = HALE_STORE_SYNC_NORMAL};

    if (hale_store_open(&o, &e->s, NULL) < 0 || hale_policy_ledger_open(e->s, &e->l, NULL) < 0 ||
        hale_approvals_open(e->s, &e->a, NULL) < 0)
        return -1;
    return 0;
}

static void close_all(struct env *e)
{
    hale_approvals_free(e->a);
    hale_policy_ledger_free(e->l);
    hale_store_free(e->s);
    e->a = NULL;
    e->l = NULL;
    e->s = NULL;
}

/* A restart: every handle closed, the file opened again. */
static void restart(struct env *e)
{
    close_all(e);
    assert_int_equal(open_all(e), 0);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!e || sodium_init() < 0)
        return -1;
    e->dir = fixture_tmpdir("hale-policy-store");
    snprintf(e->path, sizeof(e->path), "%s/hale.db", e->dir);
    *state = e;
    return open_all(e);
}

static int teardown(void **state)
{
    struct env *e = *state;

    close_all(e);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static hale_policy *must_load(const char *text)
{
    const char *names[] = {"t.json"};
    size_t len = strlen(text);
    hale_policy *p = NULL;
    hale_diag d = {{0}};

    if (hale_policy_load_texts(names, &text, &len, 1, &p, &d) < 0)
        fail_msg("load: %s", d.msg);
    return p;
}

static hale_policy_request *req_for(const char *host, const char *service, const char *unit)
{
    char text[1024];
    hale_policy_request *r = NULL;
    hale_diag d = {{0}};

    snprintf(text, sizeof(text),
             "{\"tool\":\"restart_service\",\"args\":{\"unit\":\"%s\"},\"target\":{\"labels\":"
             "{\"host\":\"%s\",\"service\":\"%s\",\"group_size\":\"4\"}},\"confidence_bp\":9500,"
             "\"source\":\"runbook\",\"risk\":\"low\"}",
             unit, host, service);
    if (hale_policy_request_parse(text, strlen(text), &r, &d) < 0)
        fail_msg("request: %s", d.msg);
    return r;
}

static hale_policy_effect eval_at(struct env *e, const hale_policy *p, hale_policy_request *r,
                                  int64_t now)
{
    hale_policy_counts c = hale_policy_ledger_counts(e->l);
    hale_policy_verdict *v = NULL;
    hale_policy_effect eff;

    assert_int_equal(hale_policy_eval(p, r, &c, now, &v), 0);
    eff = hale_policy_verdict_effect(v);
    hale_policy_verdict_free(v);
    return eff;
}

/* Start and finish one action at t. */
static void act(struct env *e, hale_policy_request *r, int64_t t, hale_policy_outcome outcome)
{
    int64_t id = 0;

    assert_int_equal(hale_policy_ledger_begin(e->l, r, true, t, &id), 0);
    if (outcome != HALE_POLICY_OUTCOME_RUNNING)
        assert_int_equal(hale_policy_ledger_finish(e->l, id, outcome, t + 1000), 0);
}

#define RULE(limits)                                                                               \
    "{\"version\":1,\"rules\":[{\"id\":\"r\",\"match\":{\"tool\":\"restart_service\"},"            \
    "\"effect\":\"allow\",\"limits\":" limits "}]}"
/* Autonomy can demote to require_approval, so such a rule names its approvers. */
#define RULE_ASKING(limits)                                                                        \
    "{\"version\":1,\"rules\":[{\"id\":\"r\",\"match\":{\"tool\":\"restart_service\"},"            \
    "\"effect\":\"allow\",\"limits\":" limits ",\"approval\":{\"users\":[\"alice\"]}}]}"

static void rate_limit_survives_a_restart(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(RULE("{\"rate\":[{\"per\":\"service\",\"max\":2,\"window\":"
                                    "\"1h\"}]}"));
    hale_policy_request *a = req_for("web-1", "web", "nginx"), *b = req_for("web-2", "web", "x");
    hale_policy_request *other = req_for("db-1", "db", "pg");

    act(e, a, T0, HALE_POLICY_OUTCOME_SUCCESS);
    act(e, b, T0 + MIN_MS, HALE_POLICY_OUTCOME_SUCCESS);
    restart(e);
    assert_int_equal(eval_at(e, p, a, T0 + 2 * MIN_MS), HALE_POLICY_DENY);
    assert_int_equal(eval_at(e, p, other, T0 + 2 * MIN_MS), HALE_POLICY_ALLOW);
    /* The first action leaves the window after an hour. */
    assert_int_equal(eval_at(e, p, a, T0 + 60 * MIN_MS + 1), HALE_POLICY_ALLOW);
    /* Pruning drops finished actions before the cut, never running ones. */
    act(e, other, T0 - MIN_MS, HALE_POLICY_OUTCOME_RUNNING);
    assert_int_equal(hale_policy_ledger_prune(e->l, T0 + 30 * 1000, 100), 1);
    assert_int_equal(eval_at(e, p, a, T0 + 2 * MIN_MS), HALE_POLICY_ALLOW); /* one left */
    hale_policy_request_free(a);
    hale_policy_request_free(b);
    hale_policy_request_free(other);
    hale_policy_unref(p);
}

static void cooldown_survives_a_restart(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(RULE("{\"cooldown\":\"10m\"}"));
    hale_policy_request *a = req_for("web-1", "web", "nginx"), *b = req_for("web-2", "web", "x");

    act(e, a, T0, HALE_POLICY_OUTCOME_SUCCESS);
    restart(e);
    assert_int_equal(eval_at(e, p, a, T0 + 9 * MIN_MS), HALE_POLICY_DENY);
    assert_int_equal(eval_at(e, p, b, T0 + 9 * MIN_MS), HALE_POLICY_ALLOW); /* other target */
    assert_int_equal(eval_at(e, p, a, T0 + 10 * MIN_MS), HALE_POLICY_ALLOW);
    hale_policy_request_free(a);
    hale_policy_request_free(b);
    hale_policy_unref(p);
}

static void concurrency_counts_running_actions_across_a_restart(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(RULE("{\"max_concurrent\":1}"));
    hale_policy_request *a = req_for("web-1", "web", "nginx"), *b = req_for("web-2", "web", "x");
    int64_t id = 0;

    assert_int_equal(hale_policy_ledger_begin(e->l, a, true, T0, &id), 0);
    restart(e);
    assert_int_equal(eval_at(e, p, b, T0 + MIN_MS), HALE_POLICY_DENY);
    assert_int_equal(hale_policy_ledger_finish(e->l, id, HALE_POLICY_OUTCOME_SUCCESS, T0 + 1), 0);
    assert_int_equal(hale_policy_ledger_finish(e->l, id, HALE_POLICY_OUTCOME_FAILED, T0 + 2),
                     HALE_ESTATE);
    assert_int_equal(hale_policy_ledger_finish(e->l, id + 99, HALE_POLICY_OUTCOME_FAILED, T0),
                     HALE_ENOTFOUND);
    assert_int_equal(eval_at(e, p, b, T0 + MIN_MS), HALE_POLICY_ALLOW);
    /* A crash leaves one running: the restart marks it abandoned, which frees the slot. */
    assert_int_equal(hale_policy_ledger_begin(e->l, a, true, T0 + 2 * MIN_MS, NULL), 0);
    restart(e);
    assert_int_equal(eval_at(e, p, b, T0 + 3 * MIN_MS), HALE_POLICY_DENY);
    assert_int_equal(hale_policy_ledger_abandon_running(e->l, T0 + 3 * MIN_MS), 1);
    assert_int_equal(eval_at(e, p, b, T0 + 3 * MIN_MS), HALE_POLICY_ALLOW);
    hale_policy_request_free(a);
    hale_policy_request_free(b);
    hale_policy_unref(p);
}

static void blast_radius_counts_distinct_targets_of_the_group(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(RULE("{\"blast_radius\":{\"max_percent\":50,\"window\":"
                                    "\"1h\"}}")); /* 2 of the 4 web hosts */
    hale_policy_request *w1 = req_for("web-1", "web", "a"), *w2 = req_for("web-2", "web", "a");
    hale_policy_request *w3 = req_for("web-3", "web", "a"), *d1 = req_for("db-1", "db", "a");

    act(e, w1, T0, HALE_POLICY_OUTCOME_SUCCESS);
    act(e, w1, T0 + 1000, HALE_POLICY_OUTCOME_SUCCESS); /* same host again: still one */
    act(e, d1, T0 + 2000, HALE_POLICY_OUTCOME_SUCCESS); /* another group */
    restart(e);
    assert_int_equal(eval_at(e, p, w2, T0 + MIN_MS), HALE_POLICY_ALLOW);
    act(e, w2, T0 + MIN_MS, HALE_POLICY_OUTCOME_SUCCESS);
    restart(e);
    assert_int_equal(eval_at(e, p, w3, T0 + 2 * MIN_MS), HALE_POLICY_DENY);
    assert_int_equal(eval_at(e, p, w1, T0 + 2 * MIN_MS), HALE_POLICY_ALLOW); /* already hit */
    hale_policy_request_free(w1);
    hale_policy_request_free(w2);
    hale_policy_request_free(w3);
    hale_policy_request_free(d1);
    hale_policy_unref(p);
}

static void autonomy_budget_and_failure_demotion_survive_a_restart(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(RULE_ASKING("{\"autonomy\":{\"max_per_day\":3,"
                                           "\"demote_after_failures\":2}}"));
    hale_policy_request *a = req_for("web-1", "web", "nginx");
    hale_policy_request *b = req_for("web-2", "web", "nginx");

    act(e, a, T0, HALE_POLICY_OUTCOME_FAILED);
    act(e, a, T0 + MIN_MS, HALE_POLICY_OUTCOME_SUCCESS);
    act(e, a, T0 + 2 * MIN_MS, HALE_POLICY_OUTCOME_FAILED);
    restart(e);
    /* Three automated actions today: the budget is used up. */
    assert_int_equal(eval_at(e, p, b, T0 + 3 * MIN_MS), HALE_POLICY_REQUIRE_APPROVAL);
    /* A day later the budget is back; one failure since the last success is fine. */
    assert_int_equal(eval_at(e, p, b, T0 + 24 * 60 * MIN_MS + 3 * MIN_MS), HALE_POLICY_ALLOW);
    act(e, b, T0 + 24 * 60 * MIN_MS, HALE_POLICY_OUTCOME_INEFFECTIVE);
    restart(e);
    /* Yesterday's failure left the 24 h window: one failure in a row so far. */
    assert_int_equal(eval_at(e, p, b, T0 + 24 * 60 * MIN_MS + 3 * MIN_MS), HALE_POLICY_ALLOW);
    act(e, b, T0 + 24 * 60 * MIN_MS + MIN_MS, HALE_POLICY_OUTCOME_FAILED);
    restart(e);
    /* Two failures in a row (ineffective counts) within 24 h: demoted. */
    assert_int_equal(eval_at(e, p, b, T0 + 24 * 60 * MIN_MS + 3 * MIN_MS),
                     HALE_POLICY_REQUIRE_APPROVAL);
    hale_policy_request_free(a);
    hale_policy_request_free(b);
    hale_policy_unref(p);
}

/* ---- approvals ---- */

static const char approval_policy[] =
    "{\"version\":1,\"groups\":{\"oncall\":[\"alice\",\"bob\",\"carol\"]},\"rules\":[{\"id\":"
    "\"two\",\"match\":{\"tool\":\"restart_service\"},\"effect\":\"require_approval\","
    "\"approval\":{\"groups\":[\"oncall\"],\"users\":[\"dave\"],\"count\":2,\"expiry\":\"30m\","
    "\"on_expiry\":\"escalate\"}}]}";

/* A pending approval for req, proposed by requester. */
static int64_t pending(struct env *e, const hale_policy *p, hale_policy_request *req,
                       const char *requester, int64_t now)
{
    hale_policy_verdict *v = NULL;
    int64_t id = 0;

    assert_int_equal(hale_policy_eval(p, req, NULL, now, &v), 0);
    assert_int_equal(hale_policy_verdict_effect(v), HALE_POLICY_REQUIRE_APPROVAL);
    assert_int_equal(hale_approvals_create(e->a, v, req, requester, "17", now, &id), 0);
    hale_policy_verdict_free(v);
    assert_true(id > 0);
    return id;
}

static int vote(struct env *e, int64_t id, const char *user, bool yes, const char *digest,
                int64_t now, hale_approval_state *st, char *why)
{
    hale_approval_vote v = {user, yes, digest, NULL, "ok"};
    hale_diag d = {{0}};
    int r = hale_approvals_decide(e->a, id, &v, now, st, &d);

    if (why)
        snprintf(why, sizeof(d.msg), "%s", d.msg);
    return r;
}

static void quorum_of_two_then_one_authorization(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(approval_policy);
    hale_policy_request *r = req_for("web-1", "web", "nginx");
    const char *dg = hale_policy_request_digest_hex(r);
    hale_approval_state st = HALE_APPROVAL_DENIED;
    hale_approved_action *act1 = NULL, *act2 = NULL;
    hale_diag d = {{0}};
    char why[512];
    int64_t id = pending(e, p, r, "hale", T0);

    assert_int_equal(hale_approvals_authorize(e->a, id, r, &act1, &d), HALE_ESTATE);
    assert_int_equal(vote(e, id, "alice", true, dg, T0 + MIN_MS, &st, why), 0);
    assert_int_equal(st, HALE_APPROVAL_PENDING);
    restart(e); /* votes are in the store */
    assert_int_equal(vote(e, id, "alice", true, dg, T0 + MIN_MS, &st, why), HALE_EPOLICY);
    assert_non_null(strstr(why, "'alice' has already voted"));
    assert_int_equal(vote(e, id, "dave", true, dg, T0 + 2 * MIN_MS, &st, why), 0);
    assert_int_equal(st, HALE_APPROVAL_APPROVED);
    assert_int_equal(vote(e, id, "bob", true, dg, T0 + 3 * MIN_MS, &st, why), HALE_ESTATE);
    assert_int_equal(hale_approvals_authorize(e->a, id, r, &act1, &d), 0);
    assert_string_equal(hale_approved_action_digest_hex(act1), dg);
    assert_string_equal(hale_approved_action_approvers(act1), "alice,dave");
    assert_int_equal(hale_approved_action_approval_id(act1), id);
    /* Once only. */
    assert_int_equal(hale_approvals_authorize(e->a, id, r, &act2, &d), HALE_ESTATE);
    assert_null(act2);
    hale_approved_action_free(act1);
    hale_policy_request_free(r);
    hale_policy_unref(p);
}

static void refusals_are_specific_and_record_nothing(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(approval_policy);
    hale_policy_request *r = req_for("web-1", "web", "nginx");
    hale_policy_request *other = req_for("web-1", "web", "sshd"); /* different arguments */
    const char *dg = hale_policy_request_digest_hex(r);
    hale_approval_state st = HALE_APPROVAL_PENDING;
    hale_approved_action *act = NULL;
    hale_approval_vote v = {"bob", true, dg, "00000000000000000000000000000000", NULL};
    hale_diag d = {{0}};
    json_t *j = NULL;
    char why[512];
    int64_t id = pending(e, p, r, "carol", T0);

    assert_int_equal(
        vote(e, id, "alice", true, hale_policy_request_digest_hex(other), T0, &st, why),
        HALE_EPOLICY);
    assert_non_null(strstr(why, "is for action"));
    assert_int_equal(vote(e, id, "mallory", true, dg, T0, &st, why), HALE_EPOLICY);
    assert_non_null(strstr(why, "'mallory' is not among the allowed approvers"));
    assert_int_equal(vote(e, id, "carol", true, dg, T0, &st, why), HALE_EPOLICY);
    assert_non_null(strstr(why, "proposed this action and may not approve it"));
    assert_int_equal(hale_approvals_decide(e->a, id, &v, T0, &st, &d), HALE_EPOLICY);
    assert_non_null(strstr(d.msg, "nonce does not match"));
    assert_int_equal(vote(e, id, "", true, dg, T0, &st, why), HALE_EPOLICY);
    assert_int_equal(vote(e, id + 1000, "alice", true, dg, T0, &st, why), HALE_ENOTFOUND);
    assert_int_equal(hale_approvals_get_json(e->a, id, &j), 0);
    assert_int_equal(json_array_size(json_object_get(j, "votes")), 0);
    /* The right nonce is accepted. */
    v.nonce = json_string_value(json_object_get(j, "nonce"));
    assert_int_equal(hale_approvals_decide(e->a, id, &v, T0, &st, &d), 0);
    json_decref(j);
    assert_int_equal(vote(e, id, "alice", true, dg, T0, &st, why), 0);
    assert_int_equal(st, HALE_APPROVAL_APPROVED);
    /* An approval of one action never authorizes another. */
    assert_int_equal(hale_approvals_authorize(e->a, id, other, &act, &d), HALE_EPOLICY);
    assert_null(act);
    hale_policy_request_free(r);
    hale_policy_request_free(other);
    hale_policy_unref(p);
}

static void deny_vote_ends_it(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(approval_policy);
    hale_policy_request *r = req_for("web-1", "web", "nginx");
    const char *dg = hale_policy_request_digest_hex(r);
    hale_approval_state st = HALE_APPROVAL_PENDING;
    int64_t id = pending(e, p, r, "hale", T0);
    json_t *list = NULL;

    assert_int_equal(vote(e, id, "alice", true, dg, T0, &st, NULL), 0);
    assert_int_equal(vote(e, id, "bob", false, dg, T0, &st, NULL), 0);
    assert_int_equal(st, HALE_APPROVAL_DENIED);
    assert_int_equal(vote(e, id, "dave", true, dg, T0, &st, NULL), HALE_ESTATE);
    assert_int_equal(hale_approvals_list_json(e->a, "denied", 10, &list), 0);
    assert_int_equal(json_array_size(json_object_get(list, "approvals")), 1);
    json_decref(list);
    hale_policy_request_free(r);
    hale_policy_unref(p);
}

struct expired {
    int n;
    bool escalate;
    char incident[16];
};

static void on_expired(int64_t id, const char *incident_id, bool escalate, void *ud)
{
    struct expired *x = ud;

    (void)id;
    x->n++;
    x->escalate = escalate;
    snprintf(x->incident, sizeof(x->incident), "%s", incident_id);
}

static void approvals_expire(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(approval_policy);
    hale_policy_request *r = req_for("web-1", "web", "nginx");
    const char *dg = hale_policy_request_digest_hex(r);
    hale_approval_state st = HALE_APPROVAL_PENDING;
    struct expired x = {0};
    char why[512];
    int64_t a = pending(e, p, r, "hale", T0), b = pending(e, p, r, "hale", T0);

    assert_int_equal(vote(e, a, "alice", true, dg, T0 + 29 * MIN_MS, &st, why), 0);
    assert_int_equal(vote(e, a, "bob", true, dg, T0 + 30 * MIN_MS, &st, why), HALE_ESTATE);
    assert_non_null(strstr(why, "expired at 2026-11-22T10:30:00.000Z"));
    assert_int_equal(hale_approvals_expire(e->a, T0 + 29 * MIN_MS, on_expired, &x), 0);
    assert_int_equal(hale_approvals_expire(e->a, T0 + 31 * MIN_MS, on_expired, &x), 1);
    assert_int_equal(x.n, 1);
    assert_true(x.escalate);
    assert_string_equal(x.incident, "17");
    assert_int_equal(vote(e, b, "alice", true, dg, T0 + 31 * MIN_MS, &st, why), HALE_ESTATE);
    hale_policy_request_free(r);
    hale_policy_unref(p);
}

static void only_a_require_approval_verdict_creates_an_approval(void **state)
{
    struct env *e = *state;
    hale_policy *p = must_load(RULE("{\"cooldown\":\"1m\"}"));
    hale_policy_request *r = req_for("web-1", "web", "nginx");
    hale_policy_counts c = hale_policy_ledger_counts(e->l);
    hale_policy_verdict *v = NULL;
    int64_t id = 0;

    assert_int_equal(hale_policy_eval(p, r, &c, T0, &v), 0);
    assert_int_equal(hale_policy_verdict_effect(v), HALE_POLICY_ALLOW);
    assert_int_equal(hale_approvals_create(e->a, v, r, "hale", NULL, T0, &id), HALE_EPOLICY);
    hale_policy_verdict_free(v);
    hale_policy_request_free(r);
    hale_policy_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rate_limit_survives_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(cooldown_survives_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrency_counts_running_actions_across_a_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blast_radius_counts_distinct_targets_of_the_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(autonomy_budget_and_failure_demotion_survive_a_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(quorum_of_two_then_one_authorization, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_are_specific_and_record_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(deny_vote_ends_it, setup, teardown),
        cmocka_unit_test_setup_teardown(approvals_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(only_a_require_approval_verdict_creates_an_approval, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
