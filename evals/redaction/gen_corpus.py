#!/usr/bin/env python3
"""evals/redaction/gen_corpus.py - write corpus.jsonl, the labelled redaction corpus.

Each template below is a log, alert or config line as services really print them. {NAME}
slots in upper case are sensitive values and are labelled with their span and type; {name}
slots in lower case are ordinary filler (timestamps, hosts, ids) that must survive. Lines
without labelled slots are negatives: they must come out of the redactor byte for byte.
The generator is seeded, so the corpus is reproducible: python3 gen_corpus.py > corpus.jsonl
"""
import base64, hashlib, json, random, string, sys, uuid

rnd = random.Random(20261122)
A = string.ascii_letters + string.digits
U = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"

def s(alphabet, n): return "".join(rnd.choice(alphabet) for _ in range(n))

# ---------------------------------------------------------------- filler (unlabelled)
def ts(): return "2026-%02d-%02dT%02d:%02d:%02d.%03dZ" % (rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59), rnd.randint(0, 999))
def syslog_ts(): return "%s %2d %02d:%02d:%02d" % (rnd.choice(["Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"]), rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59))
def clf_ts(): return "%02d/Nov/2026:%02d:%02d:%02d +0000" % (rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59))
def host(): return rnd.choice(["web", "api", "db", "cache", "worker", "ingress", "node", "kafka", "etcd"]) + "-" + str(rnd.randint(1, 40)) + rnd.choice(["", ".prod.internal", ".eu-west-1.compute.internal", ".svc.cluster.local"])
def svc(): return rnd.choice(["checkout", "payments", "auth", "search", "billing", "inventory", "notifier", "gateway", "ledger", "profile"])
def pod(): return "%s-%s-%s" % (svc(), s("bcdfghjklmnpqrstvwxz2456789", 10), s("bcdfghjklmnpqrstvwxz2456789", 5))
def sha(): return s(HEX, 40)
def short_sha(): return s(HEX, rnd.choice([7, 8, 12]))
def sha256(): return hashlib.sha256(s(A, 20).encode()).hexdigest()
def uid(): return str(uuid.UUID(int=rnd.getrandbits(128), version=4))
def ver(): return rnd.choice(["v", ""]) + "%d.%d.%d" % (rnd.randint(0, 3), rnd.randint(0, 40), rnd.randint(0, 20)) + rnd.choice(["", "", "-rc.1", "-beta.2", "+build.%d" % rnd.randint(1, 999)])
def dur(): return rnd.choice(["%dms" % rnd.randint(1, 999), "%.3fs" % rnd.uniform(0, 30), "%dm%ds" % (rnd.randint(1, 59), rnd.randint(0, 59)), "%dh%dm" % (rnd.randint(1, 12), rnd.randint(0, 59)), "%dus" % rnd.randint(1, 999)])
def port(): return str(rnd.choice([80, 443, 5432, 6379, 8080, 8443, 9090, 9093, 3306, 27017, 5672]))
def trace(): return s(HEX, 32)
def span(): return s(HEX, 16)
def reqid(): return s(A, 20)
def user(): return rnd.choice(["app", "svc_ledger", "readonly", "admin", "deploy", "etl", "grafana", "postgres", "root", "backup"])
def db(): return rnd.choice(["orders", "ledger", "users", "analytics", "inventory", "sessions"])
def path(): return rnd.choice(["/api/v1/orders", "/healthz", "/api/v2/users/%d" % rnd.randint(1, 99999), "/metrics", "/login", "/static/app.%s.js" % short_sha(), "/v1/charges", "/graphql"])
def ua(): return rnd.choice(["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "curl/8.5.0", "kube-probe/1.29", "Go-http-client/2.0", "python-requests/2.32.3", "Prometheus/2.53.1"])
def num(): return str(rnd.randint(1, 99999))
def epoch_ms(): return str(rnd.randint(1700000000000, 1800000000000))

def luhn_ok(d):
    t = 0
    for i, c in enumerate(reversed(d)):
        x = int(c)
        if i % 2: x = x * 2 - 9 if x * 2 > 9 else x * 2
        t += x
    return t % 10 == 0

def long_id():
    """A long decimal id whose Luhn checksum fails (order ids, snowflakes, trace ids)."""
    while True:
        d = str(rnd.randint(1, 9)) + s("0123456789", rnd.choice([12, 15, 17, 18]))
        if not luhn_ok(d): return d

FILL = {n: f for n, f in [("ts", ts), ("syslog_ts", syslog_ts), ("clf_ts", clf_ts), ("host", host), ("svc", svc), ("pod", pod), ("sha", sha), ("short_sha", short_sha), ("sha256", sha256), ("uuid", uid), ("ver", ver), ("dur", dur), ("port", port), ("trace", trace), ("span", span), ("reqid", reqid), ("user", user), ("db", db), ("path", path), ("ua", ua), ("num", num), ("epoch_ms", epoch_ms), ("long_id", long_id)]}

# ---------------------------------------------------------------- sensitive values
FIRST = ["alice", "bob", "carol", "dmitri", "emma", "farid", "grace", "hiro", "ines", "jonas", "kofi", "lena", "mateo", "nadia", "oliver", "priya", "quentin", "rosa", "sven", "tamar"]
LAST = ["smith", "okafor", "nguyen", "muller", "rossi", "garcia", "kowalski", "tanaka", "dubois", "silva", "ivanova", "haddad"]
DOMAINS = ["example.com", "acme-corp.io", "gmail.com", "outlook.com", "mail.example.org", "corp.globex.net", "proton.me", "fastmail.fm", "company.co.uk", "startup.dev"]

def EMAIL():
    f, l = rnd.choice(FIRST), rnd.choice(LAST)
    local = rnd.choice([f, f + "." + l, f[0] + l, f + "_" + l + str(rnd.randint(1, 99)), f + "+alerts", l + "." + f])
    return local + "@" + rnd.choice(DOMAINS)

def SA_EMAIL(): return "deployer@acme-%d.iam.gserviceaccount.com" % rnd.randint(1000, 99999)

def PHONE():
    return rnd.choice([
        lambda: "+1 %d %03d %04d" % (rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(0, 9999)),
        lambda: "+1%d%03d%04d" % (rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(0, 9999)),
        lambda: "+44 20 %04d %04d" % (rnd.randint(1000, 9999), rnd.randint(0, 9999)),
        lambda: "+44 7%03d %06d" % (rnd.randint(100, 999), rnd.randint(0, 999999)),
        lambda: "+49 30 %d" % rnd.randint(1000000, 99999999),
        lambda: "+33 6 %02d %02d %02d %02d" % tuple(rnd.randint(0, 99) for _ in range(4)),
        lambda: "+91 %d %05d" % (rnd.randint(70000, 99999), rnd.randint(0, 99999)),
        lambda: "+61 4%02d %03d %03d" % (rnd.randint(0, 99), rnd.randint(0, 999), rnd.randint(0, 999)),
        lambda: "(%d) %03d-%04d" % (rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(0, 9999)),
    ])()

def PHONE_NATIONAL():
    return rnd.choice([
        lambda: "%d-%03d-%04d" % (rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(0, 9999)),
        lambda: "0%d %04d %04d" % (rnd.randint(20, 29), rnd.randint(1000, 9999), rnd.randint(0, 9999)),
        lambda: "07%03d %06d" % (rnd.randint(100, 999), rnd.randint(0, 999999)),
        lambda: "030 %d" % rnd.randint(1000000, 99999999),
        lambda: "06 %02d %02d %02d %02d" % tuple(rnd.randint(0, 99) for _ in range(4)),
        lambda: "%d.%03d.%04d" % (rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(0, 9999)),
    ])()

def IPV4():
    return rnd.choice([
        lambda: "10.%d.%d.%d" % (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254)),
        lambda: "192.168.%d.%d" % (rnd.randint(0, 255), rnd.randint(1, 254)),
        lambda: "172.%d.%d.%d" % (rnd.randint(16, 31), rnd.randint(0, 255), rnd.randint(1, 254)),
        lambda: "%d.%d.%d.%d" % (rnd.choice([34, 52, 81, 93, 104, 151, 185, 203, 212]), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254)),
    ])()

def IPV6():
    g = lambda: "%x" % rnd.randint(0, 0xffff)
    return rnd.choice([
        lambda: "2001:db8:%s:%s::%s" % (g(), g(), g()),
        lambda: "fe80::%s:%s:%s:%s" % (g(), g(), g(), g()),
        lambda: ":".join("%04x" % rnd.randint(0, 0xffff) for _ in range(8)),
        lambda: "2a01:4f8:%s:%s::%s" % (g(), g(), rnd.randint(1, 9)),
        lambda: "::ffff:10.%d.%d.%d" % (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254)),
        lambda: "fd00:%s:%s::%s" % (g(), g(), g()),
    ])()

def MAC():
    sep = rnd.choice([":", "-"])
    return sep.join("%02x" % rnd.randint(0, 255) for _ in range(6))

def card_digits():
    pre, n = rnd.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16), ("65", 16), ("35", 16), ("4", 13)])
    while True:
        d = pre + s("0123456789", n - len(pre))
        if luhn_ok(d): return d

def CARD():
    d = card_digits()
    if len(d) == 16 and rnd.random() < 0.5:
        sep = rnd.choice([" ", "-"])
        return sep.join(d[i:i + 4] for i in range(0, 16, 4))
    if len(d) == 15 and rnd.random() < 0.5:
        return d[:4] + " " + d[4:10] + " " + d[10:]
    return d

IBAN_FMT = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n", "IT": "1a10n12c", "BE": "12n", "CH": "5n12c", "AT": "16n", "PL": "24n", "IE": "4a14n", "SE": "20n"}
def IBAN():
    cc = rnd.choice(list(IBAN_FMT))
    bban, f, i = "", IBAN_FMT[cc], 0
    while i < len(f):
        j = i
        while f[j].isdigit(): j += 1
        k = int(f[i:j])
        bban += s({"n": "0123456789", "a": string.ascii_uppercase, "c": U}[f[j]], k)
        i = j + 1
    conv = "".join(str(int(c, 36)) for c in bban + cc + "00")
    iban = cc + "%02d" % (98 - int(conv) % 97) + bban
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rnd.random() < 0.5 else iban

def ssn_digits():
    while True:
        a = rnd.randint(1, 899)
        if a != 666: return "%03d" % a, "%02d" % rnd.randint(1, 99), "%04d" % rnd.randint(1, 9999)
def SSN(): return "-".join(ssn_digits())
def SSN_PLAIN(): return rnd.choice(["".join(ssn_digits()), " ".join(ssn_digits()), "-".join(ssn_digits())])

def b64u(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
def JWT():
    hdr = {"alg": rnd.choice(["RS256", "HS256", "ES256", "PS256"]), "typ": "JWT"}
    if rnd.random() < 0.6: hdr["kid"] = s(A, 16)
    claims = {"sub": str(uuid.UUID(int=rnd.getrandbits(128))), "iss": "https://auth.%s" % rnd.choice(DOMAINS), "exp": rnd.randint(1760000000, 1800000000), "scope": "read write"}
    if rnd.random() < 0.5: claims["email"] = EMAIL()
    sig = b64u(bytes(rnd.getrandbits(8) for _ in range(rnd.choice([32, 64, 256]))))
    return b64u(json.dumps(hdr, separators=(",", ":")).encode()) + "." + b64u(json.dumps(claims, separators=(",", ":")).encode()) + "." + sig

def pem_body(nbytes): return base64.b64encode(bytes(rnd.getrandbits(8) for _ in range(nbytes))).decode()
def PRIVATE_KEY(sep="\n"):
    kind = rnd.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK"])
    body = pem_body(rnd.choice([121, 241, 400, 1190]))
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    head = ["-----BEGIN %s-----" % kind]
    if kind == "RSA PRIVATE KEY" and rnd.random() < 0.3:
        head += ["Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,%s" % s("0123456789ABCDEF", 32), ""]
    return sep.join(head + lines + ["-----END %s-----" % kind])
def PRIVATE_KEY_ESCAPED(): return PRIVATE_KEY("\\n")
def PRIVATE_KEY_B64(): return base64.b64encode(PRIVATE_KEY().encode()).decode()

def AWS_ID(): return rnd.choice(["AKIA", "ASIA"]) + s("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
def AWS_SECRET(): return s(string.ascii_letters + string.digits + "+/", 40)
def CLOUD_KEY():
    return rnd.choice([AWS_ID, lambda: "AIza" + s(A + "-_", 35), lambda: "GOCSPX-" + s(A + "-_", 28),
                       lambda: "ya29.a0" + s(A + "-_", 120), lambda: "LTAI" + s(A, 20),
                       lambda: "dop_v1_" + s(HEX, 64), lambda: s(A, 3) + str(rnd.randint(0, 9)) + "Q~" + s(A + "_~.-", 34)])()
def AZURE_KEY(): return base64.b64encode(bytes(rnd.getrandbits(8) for _ in range(64))).decode()

def TOKEN():
    return rnd.choice([
        lambda: "ghp_" + s(A, 36), lambda: "gho_" + s(A, 36), lambda: "ghs_" + s(A, 36),
        lambda: "github_pat_" + s(A, 22) + "_" + s(A, 59), lambda: "glpat-" + s(A + "-_", 20),
        lambda: "xoxb-%d-%d-%s" % (rnd.randint(10**10, 10**12), rnd.randint(10**10, 10**12), s(A, 24)),
        lambda: "xoxp-%d-%d-%d-%s" % (rnd.randint(10**10, 10**12), rnd.randint(10**10, 10**12), rnd.randint(10**10, 10**12), s(HEX, 32)),
        lambda: "xapp-1-A%s-%d-%s" % (s(U, 10), rnd.randint(10**12, 10**13), s(HEX, 64)),
        lambda: "sk_live_" + s(A, 24), lambda: "rk_live_" + s(A, 99), lambda: "sk_test_" + s(A, 24), lambda: "whsec_" + s(A, 32),
        lambda: "sk-proj-" + s(A + "-_", 74) + "T3BlbkFJ" + s(A + "-_", 74),
        lambda: "sk-ant-api03-" + s(A + "-_", 93) + "AA", lambda: "npm_" + s(A, 36),
        lambda: "pypi-AgEIcHlwaS5vcmc" + s(A + "-_", 70), lambda: "SG." + s(A + "-_", 22) + "." + s(A + "-_", 43),
        lambda: "SK" + s(HEX, 32), lambda: "key-" + s(HEX, 32), lambda: s(HEX, 32) + "-us" + str(rnd.randint(1, 21)),
        lambda: "shpat_" + s(HEX, 32), lambda: "hvs." + s(A + "-_", 90), lambda: "dapi" + s("0123456789abcdefgh", 32),
        lambda: "glsa_" + s(A, 32) + "_" + s(HEX, 8), lambda: "hf_" + s(string.ascii_letters, 34),
        lambda: "lin_api_" + s(A, 40), lambda: "PMAK-" + s(HEX, 24) + "-" + s(HEX, 34), lambda: "NRAK-" + s(U, 27),
        lambda: "sntrys_" + s(A, 60), lambda: "pul-" + s(HEX, 40), lambda: "%d:AA%s" % (rnd.randint(10**8, 10**9), s(A + "-_", 33)),
        lambda: "dt0c01." + s(U, 24) + "." + s(U, 64), lambda: "dp.pt." + s(A, 43), lambda: "ATATT3" + s(A + "-_=", 180),
        lambda: s(A, 14) + ".atlasv1." + s(A + "-_", 67), lambda: "glc_" + s(A, 64) + "==",
    ])()
def SLACK_HOOK(): return "https://hooks.slack.com/services/T%s/B%s/%s" % (s(U, 10), s(U, 10), s(A, 24))

PASSWORDS = ["hunter2!", "Tr0ub4dor&3", "S3cure-Passw0rd", "correct-horse-battery-staple", "Winter2026!", "p@ssw0rd123", "letmein", "Zx9#kQ2!vB", "changeme", "summer-breeze-88", "N0tS0Secret", "Q7r!t9Lm#2"]
def PASSWORD(): return rnd.choice(PASSWORDS + [s(A + "!#%^*_-", rnd.randint(10, 24)) for _ in range(6)])
def URLPW(): return rnd.choice(PASSWORDS[:8] + [s(A, rnd.randint(12, 32)) for _ in range(4)]).replace("@", "x").replace("#", "x").replace("/", "x")
def SECRET(): return rnd.choice([lambda: s(A, rnd.randint(24, 48)), lambda: s(HEX, 64), lambda: base64.b64encode(bytes(rnd.getrandbits(8) for _ in range(32))).decode(), lambda: s(A + "-_", 43)])()
def AUTH(): return rnd.choice([lambda: s(A + "-_.", rnd.randint(24, 64)), lambda: base64.b64encode(("%s:%s" % (user(), URLPW())).encode()).decode(), lambda: s(HEX, 40)])()

GEN = {"EMAIL": EMAIL, "SA_EMAIL": SA_EMAIL, "PHONE": PHONE, "PHONE_NATIONAL": PHONE_NATIONAL, "IPV4": IPV4, "IPV6": IPV6, "MAC": MAC, "CARD": CARD, "IBAN": IBAN, "SSN": SSN, "SSN_PLAIN": SSN_PLAIN,
       "JWT": JWT, "PRIVATE_KEY": PRIVATE_KEY, "PRIVATE_KEY_ESCAPED": PRIVATE_KEY_ESCAPED, "PRIVATE_KEY_B64": PRIVATE_KEY_B64, "AWS_ID": AWS_ID, "AWS_SECRET": AWS_SECRET, "CLOUD_KEY": CLOUD_KEY,
       "AZURE_KEY": AZURE_KEY, "TOKEN": TOKEN, "SLACK_HOOK": SLACK_HOOK, "PASSWORD": PASSWORD, "URLPW": URLPW, "SECRET": SECRET, "AUTH": AUTH}
# The entity type each slot is labelled with in the report.
LABEL = {"SA_EMAIL": "EMAIL", "PHONE_NATIONAL": "PHONE", "SSN_PLAIN": "SSN", "PRIVATE_KEY_ESCAPED": "PRIVATE_KEY", "PRIVATE_KEY_B64": "PRIVATE_KEY", "AWS_ID": "CLOUD_KEY", "AWS_SECRET": "CLOUD_KEY",
         "AZURE_KEY": "CLOUD_KEY", "SLACK_HOOK": "TOKEN", "URLPW": "PASSWORD"}

# ---------------------------------------------------------------- positive templates
POS = [
    # nginx / HTTP access logs
    '{IPV4} - - [{clf_ts}] "GET {path} HTTP/1.1" 200 {num} "-" "{ua}"',
    '{IPV4} - {EMAIL} [{clf_ts}] "POST /api/v1/orders HTTP/2.0" 201 {num} "https://shop.example.com/cart" "{ua}" rt={dur}',
    '{IPV6} - - [{clf_ts}] "GET {path} HTTP/1.1" 404 153 "-" "{ua}"',
    '{ts} level=info msg="request completed" remote_addr={IPV4}:{num} method=GET path={path} status=200 duration={dur} request_id={reqid}',
    '{ts} level=warn msg="rate limited" client_ip={IPV4} user={EMAIL} limit=100/min trace_id={trace}',
    '{syslog_ts} {host} sshd[{num}]: Accepted publickey for deploy from {IPV4} port {num} ssh2: ED25519 SHA256:{reqid}',
    '{syslog_ts} {host} sshd[{num}]: Failed password for invalid user admin from {IPV4} port {num} ssh2',
    '{syslog_ts} {host} sshd[{num}]: Connection closed by authenticating user root {IPV6} port {num} [preauth]',
    '{syslog_ts} {host} dhcpd[{num}]: DHCPACK on {IPV4} to {MAC} (laptop-{num}) via eth0',
    '{syslog_ts} {host} kernel: [{num}.{num}] IN=eth0 OUT= MAC={MAC} SRC={IPV4} DST={IPV4} LEN=60 TTL=52 PROTO=TCP SPT={num} DPT=22',
    '{syslog_ts} {host} postfix/smtp[{num}]: 4B2C1{num}: to=<{EMAIL}>, relay=mx.{host}[{IPV4}]:25, delay={dur}, status=sent (250 2.0.0 OK)',
    '{syslog_ts} {host} dovecot: imap-login: Login: user=<{EMAIL}>, method=PLAIN, rip={IPV4}, lip={IPV4}, TLS, session=<{reqid}>',
    '{ts} INFO  [{svc}] password reset requested for {EMAIL} from {IPV4}',
    '{ts} INFO  notifier: sms sent to {PHONE} template=otp_login provider=twilio sid=SM{trace}',
    '{ts} WARN  notifier: delivery failed to={PHONE} code=30007 carrier_filtered',
    '{ts} INFO  crm: contact updated id={num} email={EMAIL} phone={PHONE}',
    '{"ts":"{ts}","level":"info","msg":"signup","email":"{EMAIL}","phone":"{PHONE}","ip":"{IPV4}","plan":"pro"}',
    '{"time":"{ts}","severity":"ERROR","message":"payment declined","customer_email":"{EMAIL}","card":"{CARD}","amount":4999,"currency":"EUR"}',
    '{ts} ERROR payments: charge failed card={CARD} exp=09/29 reason=insufficient_funds order={long_id}',
    '{ts} DEBUG payments: tokenizing pan {CARD} for merchant {num}',
    '{ts} WARN  fraud: velocity check tripped for card number {CARD} ip={IPV4}',
    '{ts} INFO  payouts: sepa transfer queued iban={IBAN} amount=1250.00 reference=INV-{num}',
    '{ts} ERROR payouts: IBAN {IBAN} rejected by bank: account closed',
    '{"event":"payout.created","iban":"{IBAN}","beneficiary":"{EMAIL}","ts":"{ts}"}',
    '{ts} WARN  kyc: document check failed ssn={SSN} applicant={EMAIL}',
    '{ts} INFO  hr-sync: employee {num} updated SSN: {SSN_PLAIN}',
    '{ts} DEBUG tax-export: row {num} social_security_number={SSN_PLAIN} state=CA',
    '{ts} INFO  support: callback requested phone: {PHONE_NATIONAL} ticket=#{num}',
    '{ts} INFO  crm: lead created tel={PHONE_NATIONAL} source=web',
    '{ts} DEBUG twilio: inbound call from caller {PHONE} to {PHONE}',
    '{ts} INFO  auth: token issued sub={uuid} access_token={JWT} expires_in=3600',
    '{ts} DEBUG gateway: forwarding request Authorization: Bearer {JWT}',
    '{ts} WARN  auth: invalid signature on id_token {JWT}',
    '{"level":"debug","headers":{"authorization":"Bearer {JWT}","x-request-id":"{uuid}"}}',
    '{ts} DEBUG http: > Authorization: Bearer {AUTH}',
    '{ts} DEBUG http: request headers: Authorization: Basic {AUTH} User-Agent: {ua}',
    'curl -sS -H "Authorization: token {TOKEN}" https://api.github.com/repos/acme/app/actions/runs',
    'curl -H "X-Api-Key: {AUTH}" https://api.partner.example.com/v2/orders',
    '{ts} DEBUG upstream: GET https://api.example.com/v1/items headers={"Accept":"application/json","Authorization":"Bearer {AUTH}"}',
    '{ts} INFO  proxy: request x-api-key={AUTH} path={path} status=403',
    '{ts} DEBUG vault: X-Vault-Token: {TOKEN}',
    # cloud credentials
    'AWS_ACCESS_KEY_ID={AWS_ID}',
    'AWS_SECRET_ACCESS_KEY={AWS_SECRET}',
    'aws_access_key_id = {AWS_ID}',
    'aws_secret_access_key = {AWS_SECRET}',
    '{ts} ERROR s3: AccessDenied for key id {AWS_ID} on bucket backups-prod request_id={reqid}',
    '{ts} DEBUG boto: credentials loaded from env access_key={AWS_ID} secret_key={AWS_SECRET} region=eu-west-1',
    '{"AccessKeyId": "{AWS_ID}", "SecretAccessKey": "{AWS_SECRET}", "Expiration": "{ts}"}',
    'export AWS_ACCESS_KEY_ID="{AWS_ID}" AWS_SECRET_ACCESS_KEY="{AWS_SECRET}"',
    '{ts} WARN  maps: request with key={CLOUD_KEY} exceeded quota',
    'GOOGLE_API_KEY={CLOUD_KEY}',
    '{ts} INFO  config: loaded cloud credential {CLOUD_KEY} for project analytics-{num}',
    'DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net',
    'Endpoint=sb://acme-bus.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={AZURE_KEY}',
    # SaaS tokens
    '{ts} WARN  ci: token {TOKEN} found in job output, rotating',
    'GITHUB_TOKEN={TOKEN}',
    '{ts} DEBUG deploy: using credential {TOKEN} for registry push',
    '  token: {TOKEN}',
    '    api_token: "{TOKEN}"',
    '{"service":"{svc}","token":"{TOKEN}","scopes":["repo","workflow"]}',
    '{ts} ERROR notifier: slack webhook {SLACK_HOOK} returned 404 no_service',
    'SLACK_WEBHOOK_URL={SLACK_HOOK}',
    '{ts} INFO  release {ver} published with npm token {TOKEN} by {EMAIL}',
    'git clone https://oauth2:{TOKEN}@gitlab.example.com/platform/infra.git',
    '{ts} WARN  kubelet: image pull from registry.{host} with token {TOKEN} failed: 401',
    # private keys (multi-line records)
    '{PRIVATE_KEY}',
    '# /etc/ssl/private/{svc}.key\n{PRIVATE_KEY}',
    '{ts} ERROR tls: failed to load key pair: {PRIVATE_KEY}',
    '{"type":"service_account","project_id":"acme-{num}","private_key_id":"{sha}","private_key":"{PRIVATE_KEY_ESCAPED}\\n","client_email":"{SA_EMAIL}"}',
    '    client-key-data: {PRIVATE_KEY_B64}',
    'ssh_private_key: |\n{PRIVATE_KEY}',
    # passwords
    'DATABASE_URL=postgres://{user}:{URLPW}@{host}:5432/{db}?sslmode=require',
    '{ts} ERROR db: connection to mysql://{user}:{URLPW}@{host}:3306/{db} failed: timeout after {dur}',
    'REDIS_URL=redis://default:{URLPW}@{host}:6379/0',
    '{ts} INFO  worker: connecting to amqp://{user}:{URLPW}@rabbitmq.{host}:5672/%2F',
    'mongodb+srv://{user}:{URLPW}@cluster0.ab12cd.mongodb.net/{db}?retryWrites=true',
    '{ts} DEBUG http: GET https://{user}:{URLPW}@artifacts.{host}/repository/releases/app-{ver}.tar.gz',
    'password={PASSWORD}',
    'DB_PASSWORD={PASSWORD}',
    '  password: "{PASSWORD}"',
    '"password": "{PASSWORD}",',
    '{ts} DEBUG config: smtp_password={PASSWORD} smtp_user={EMAIL} smtp_host={host}',
    'Server={host};Database={db};User Id={user};Password={PASSWORD};',
    '{ts} WARN  audit: command line: mysql -u {user} --password={PASSWORD} -h {host} {db}',
    '{ts} WARN  audit: exec: pg_dump --username {user} --password {PASSWORD} {db}',
    "ALTER USER {user} IDENTIFIED BY '{PASSWORD}';",
    '{"username":"{user}","passwd":"{PASSWORD}","remember":true}',
    'spring.datasource.password={PASSWORD}',
    'RABBITMQ_DEFAULT_PASS={PASSWORD}',
    # generic secrets
    'SECRET_KEY={SECRET}',
    'client_secret={SECRET}',
    '  webhook_secret: {SECRET}',
    '{"api_key":"{SECRET}","endpoint":"https://api.vendor.example/v3"}',
    'JWT_SIGNING_KEY={SECRET}',
    '{ts} DEBUG oauth: exchanging code client_id={uuid} client_secret={SECRET}',
    'session_secret = "{SECRET}"',
    '{ts} INFO  bootstrap: generated api key {SECRET} for tenant {num}',
    'encryption_key: {SECRET}',
    '{ts} WARN  config: secret value {SECRET} logged by debug hook',
    # alerts (Alertmanager, Prometheus)
    '{"labels":{"alertname":"HighLoginFailures","instance":"{IPV4}:9100","severity":"warning"},"annotations":{"summary":"user {EMAIL} failed 20 logins"}}',
    '{"labels":{"alertname":"NodeDown","instance":"{IPV4}:9100","job":"node"},"startsAt":"{ts}","generatorURL":"http://prometheus.{host}:9090/graph"}',
    '{"labels":{"alertname":"LeakedCredential","repo":"acme/app"},"annotations":{"description":"commit {sha} contains {TOKEN}"}}',
    '[FIRING:1] TargetDown instance=[{IPV6}]:9100 job=node-exporter',
    'ALERT DiskFull host={host} ip={IPV4} mount=/var used=97% owner={EMAIL}',
    '{ts} alertmanager: notify to pager {PHONE} failed: 503 Service Unavailable',
    # k8s / app logs with several entities
    '{ts} INFO  controller: reconciling pod {pod} podIP={IPV4} hostIP={IPV4} node={host}',
    '{ts} INFO  envoy: upstream connect to {IPV6} port {port} reset reason: connection timeout',
    '{ts} WARN  ldap: bind failed for uid={EMAIL} from {IPV4}: invalid credentials',
    '{ts} INFO  user {EMAIL} logged in from {IPV4} (mfa=sms {PHONE})',
    '{ts} DEBUG request body: {"email":"{EMAIL}","password":"{PASSWORD}","device":"{uuid}"}',
]

# ---------------------------------------------------------------- negative templates
NEG = [
    '{ts} INFO  deploy: rolled out {svc} image registry.example.com/{svc}@sha256:{sha256}',
    '{ts} INFO  git: checked out {sha} (HEAD -> main) in {dur}',
    'commit {sha}\nMerge: {short_sha} {short_sha}\nDate:   Sun Nov 22 15:28:20 2026 +0000',
    '{ts} INFO  build {num} for revision {short_sha} finished in {dur}',
    '{ts} INFO  controller: pod {pod} scheduled on {host} in {dur}',
    '{ts} WARN  kubelet: Back-off restarting failed container {svc} in pod {pod}_default({uuid})',
    '{ts} Normal   Pulled     pod/{pod}   Successfully pulled image "ghcr.io/acme/{svc}:{ver}" in {dur}',
    '{ts} Warning  BackOff    pod/{pod}   Back-off restarting failed container',
    'LAST SEEN   TYPE      REASON      OBJECT              MESSAGE',
    '{ts} INFO  request_id={uuid} trace_id={trace} span_id={span} status=200 latency={dur}',
    '{ts} INFO  order {long_id} shipped, tracking {long_id}',
    '{ts} DEBUG kafka: committed offset {long_id} for partition 7 of topic events.v2',
    '{ts} INFO  snowflake id {long_id} assigned to event',
    '{ts} INFO  {svc} version {ver} starting (go1.22.5, linux/amd64)',
    '{ts} INFO  upgraded postgresql from 15.6 to 16.4, openssl 3.0.15, kernel 6.1.0-28-amd64',
    'Linux {host} 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) x86_64 GNU/Linux',
    '{syslog_ts} {host} systemd[1]: Started {svc}.service - {svc} daemon.',
    '{syslog_ts} {host} systemd[1]: {svc}.service: Consumed {dur} CPU time, 1.2G memory peak.',
    '{syslog_ts} {host} CRON[{num}]: (root) CMD (/usr/local/bin/backup.sh --retention 14d)',
    '{syslog_ts} {host} kernel: [{num}.{num}] Out of memory: Killed process {num} (java) total-vm:8388608kB, anon-rss:4194304kB',
    '{ts} WARN  gc: pause {dur} heap 3.1GiB -> 1.4GiB (limit 4GiB)',
    '{ts} INFO  metrics: http_requests_total{{code="200",method="GET"}} 1027 {epoch_ms}',
    'node_cpu_seconds_total{{cpu="0",mode="idle"}} 1.234567e+06',
    '{ts} INFO  scheduler: next run at {ts} (every 15m, jitter 30s)',
    '{ts} ERROR {svc}: context deadline exceeded after {dur} (retry 3/5, backoff {dur})',
    '{ts} INFO  cache hit ratio 0.973 over 1h, evictions 1204, size 512MiB/2GiB',
    '{ts} INFO  token expired for session {uuid}, refreshing',
    '{ts} WARN  auth: invalid token signature (kid={short_sha}), rejecting request {uuid}',
    '{ts} INFO  password reset email queued for user id {num}',
    '{ts} ERROR login failed: wrong password for user id {num} (attempt 3 of 5)',
    '{ts} INFO  secret default/{svc}-tls mounted at /etc/tls (resourceVersion {num})',
    '{ts} INFO  rotating secret {svc}-db-credentials, next rotation in 720h',
    '  secretName: {svc}-tls',
    '  tokenTTL: 24h',
    '  password_min_length: 12',
    '  api_key_header: X-Api-Key',
    'auth_method = "oidc"',
    '{ts} INFO  api key created for tenant {num} (id {uuid}, prefix ak_live)',
    '{ts} DEBUG Authorization header missing, returning 401',
    '{ts} INFO  authorization policy allow-{svc} evaluated in {dur}',
    '{ts} INFO  using bearer authentication for upstream {host}',
    '{ts} INFO  cluster {uuid} has 3 nodes, quorum 2, term 418, leader {host}',
    '{ts} INFO  file /var/lib/{svc}/data/{sha256}.blob written (4096 bytes, crc32 0x{span})',
    'sha256sum: {sha256}  {svc}-{ver}-linux-amd64.tar.gz',
    '{ts} INFO  lease {uuid} renewed by {host} (duration {dur})',
    'Nov 22 15:28:20 {host} containerd[812]: time="{ts}" level=info msg="StartContainer for \\"{trace}\\" returns successfully"',
    '{ts} INFO  span {span} of trace {trace} exported to otel-collector:4317',
    '{ts} INFO  listening on :{port} (http) and :9090 (metrics)',
    '{ts} INFO  connected to {host}:{port} in {dur}',
    '{ts} WARN  disk /dev/nvme0n1p2 at 91% (183.4GiB of 200GiB), inode usage 12%',
    '{ts} INFO  job {svc}-backup-{epoch_ms} completed: 14 files, 2.3GB, duration {dur}',
    '{ts} INFO  migration 20261122152820_add_index applied in {dur}',
    '{ts} INFO  terraform: aws_instance.web[2]: Creation complete after {dur} [id=i-0{short_sha}{short_sha}]',
    '{ts} INFO  ec2: instance i-0{short_sha} in subnet subnet-0{short_sha} is running (ami-0{short_sha})',
    '{ts} INFO  cert for {svc}.example.com valid until 2027-02-20 (serial 04:{span})',
    '{ts} INFO  HTTP/1.1 GET {path} 200 {num}B {dur}',
    '{ts} INFO  received SIGTERM, draining {num} connections (grace 30s)',
    '{ts} INFO  feature flag new-checkout enabled for 25% of users (seed {num})',
    '{ts} DEBUG tcp 0.0.0.0:{port} LISTEN pid={num}',
    'error: failed to push some refs to \'git@github.com:acme/{svc}.git\'',
    '{ts} ERROR panic: runtime error: index out of range [5] with length 5\ngoroutine {num} [running]:\nmain.handle(0xc000{span})\n\t/src/{svc}/main.go:142 +0x1d4',
    '  File "/usr/lib/python3/dist-packages/{svc}/app.py", line {num}, in handle_request',
    'Exception in thread "main" java.lang.IllegalStateException: pool exhausted (max=50, active=50, idle=0)',
    '{ts} INFO  phone verification step skipped (feature disabled)',
    '{ts} INFO  contact sync finished: 1204 records in {dur}',
    '{ts} INFO  card payments enabled for region eu-west-1',
    '{ts} INFO  ssn validation service healthy (p99 {dur})',
    '{ts} INFO  ipv6 disabled on interface eth0, using 0 addresses',
    '{ts} INFO  build matrix: python 3.11.9, 3.12.4; node 20.15.1',
    '{ts} INFO  checksum mismatch for chunk {num} (expected {trace}, got {trace})',
    '{ts} INFO  rate 1523.4 req/s, p50 {dur}, p99 {dur}, errors 0.02%',
    '{ts} INFO  etcd: compacted revision {num} in {dur}',
    '{ts} INFO  certificate fingerprint SHA256:{sha256}',
    '{ts} INFO  OID 1.3.6.1.4.1.2021.10.1.3.1 returned 0.42',
]

def render(tpl):
    out, spans, i = "", [], 0
    while i < len(tpl):
        if tpl.startswith("{{", i): out += "{"; i += 2; continue
        if tpl.startswith("}}", i): out += "}"; i += 2; continue
        if tpl[i] == "{":
            j = tpl.find("}", i)
            name = tpl[i + 1:j]
            if name in GEN:
                v = GEN[name]()
                spans.append({"start": len(out.encode()), "end": len(out.encode()) + len(v.encode()), "type": LABEL.get(name, name)})
                out += v; i = j + 1; continue
            if name in FILL:
                out += FILL[name](); i = j + 1; continue
        out += tpl[i]; i += 1
    return out, spans

def main():
    recs = []
    for rep in range(6):
        for t in POS:
            text, spans = render(t)
            recs.append({"text": text, "spans": spans})
    for rep in range(7):
        for t in NEG:
            text, spans = render(t)
            assert not spans
            recs.append({"text": text, "spans": []})
    rnd.shuffle(recs)
    for r in recs:
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")

if __name__ == "__main__":
    main()
