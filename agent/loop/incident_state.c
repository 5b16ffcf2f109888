/* agent/loop/incident_state.c - the incident state machine's table: names and legal
 * transitions. Pure data and lookups; incidents.c applies them. */
#include "internal.h"

#include "hale/incident.h"

static const char *const state_names[HALE_INCIDENT__STATE_COUNT] = {
    [HALE_INCIDENT_OPEN] = "open",
    [HALE_INCIDENT_INVESTIGATING] = "investigating",
    [HALE_INCIDENT_DECIDING] = "deciding",
    [HALE_INCIDENT_AWAITING_APPROVAL] = "awaiting_approval",
    [HALE_INCIDENT_HEALING] = "healing",
    [HALE_INCIDENT_VERIFYING] = "verifying",
    [HALE_INCIDENT_RESOLVED] = "resolved",
    [HALE_INCIDENT_FAILED] = "failed",
    [HALE_INCIDENT_ESCALATED] = "escalated",
    [HALE_INCIDENT_ROLLED_BACK] = "rolled_back",
};

#define S(x) (1u << HALE_INCIDENT_##x)
/* The forward edges of each state; resolved, failed and escalated are added below for every
 * active state, so the table lists only what is particular to a state. */
static const unsigned forward[HALE_INCIDENT__STATE_COUNT] = {
    [HALE_INCIDENT_OPEN] = S(INVESTIGATING) | S(DECIDING),
    [HALE_INCIDENT_INVESTIGATING] = S(DECIDING),
    [HALE_INCIDENT_DECIDING] = S(AWAITING_APPROVAL) | S(HEALING) | S(INVESTIGATING),
    [HALE_INCIDENT_AWAITING_APPROVAL] = S(HEALING) | S(DECIDING),
    [HALE_INCIDENT_HEALING] = S(VERIFYING) | S(ROLLED_BACK),
    [HALE_INCIDENT_VERIFYING] = S(HEALING) | S(ROLLED_BACK),
    [HALE_INCIDENT_ESCALATED] = 0,
};
static const unsigned from_any_active = S(RESOLVED) | S(FAILED) | S(ESCALATED);
#undef S

static_assert(HALE_INCIDENT__STATE_COUNT <= 32, "transition sets are 32-bit masks");

const char *hale_incident_state_name(hale_incident_state s)
{
    if ((unsigned)s >= HALE_INCIDENT__STATE_COUNT)
        return "invalid";
    return state_names[s];
}

int hale_incident_state_parse(const char *name, hale_incident_state *ret)
{
    for (unsigned i = 0; i < HALE_INCIDENT__STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *ret = (hale_incident_state)i;
            return 0;
        }
    }
    return HALE_ESCHEMA;
}

bool hale_incident_state_is_terminal(hale_incident_state s)
{
    return s == HALE_INCIDENT_RESOLVED || s == HALE_INCIDENT_FAILED ||
           s == HALE_INCIDENT_ROLLED_BACK;
}

bool hale_incident_transition_allowed(hale_incident_state from, hale_incident_state to)
{
    unsigned allowed;

    if ((unsigned)from >= HALE_INCIDENT__STATE_COUNT ||
        (unsigned)to >= HALE_INCIDENT__STATE_COUNT || from == to)
        return false;
    if (hale_incident_state_is_terminal(from))
        return false;
    if (from == HALE_INCIDENT_ESCALATED)
        return to == HALE_INCIDENT_RESOLVED;
    allowed = forward[from] | from_any_active;
    return (allowed >> to) & 1u;
}

int hale_severity_rank(const char *severity)
{
    static const struct {
        const char *name;
        int rank;
    } ranks[] = {{"critical", 4}, {"error", 3}, {"warning", 2}, {"info", 1}};

    for (size_t i = 0; severity && i < HALE_ARRAY_SIZE(ranks); i++)
        if (strcmp(severity, ranks[i].name) == 0)
            return ranks[i].rank;
    return 0;
}
