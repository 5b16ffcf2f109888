-- evals/wrk_post.lua - wrk script: POST an Alertmanager webhook body, as hale receives it.
-- The body is read from the file named by $HALE_BENCH_BODY, or else it is a built-in
-- two-alert firing payload shaped like Alertmanager 0.25's (see PROTOCOLS.md section 1.2:
-- same fields, Go's \u0026 escapes, the trailing newline of json.Encoder), about 1.5 KB.
-- Usage: wrk -t1 -c64 -d10s --latency -s evals/wrk_post.lua http://127.0.0.1:PORT/api/v1/alerts

local builtin = '{"receiver":"controller","status":"firing","alerts":['
  .. '{"status":"firing","labels":{"alertname":"HighLatency","instance":"api-1:9100",'
  .. '"job":"api","service":"checkout","severity":"warning","team":"payments"},'
  .. '"annotations":{"description":"p99 latency of checkout on api-1 has been above 750 ms '
  .. 'for 5 minutes.","runbook":"restart-checkout","summary":"checkout p99 latency high"},'
  .. '"startsAt":"2026-11-22T13:08:22.079Z","endsAt":"0001-01-01T00:00:00Z",'
  .. '"generatorURL":"http://prometheus:9090/graph?g0.expr=histogram_quantile%280.99%2C+'
  .. 'rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29+%3E+0.75\\u0026g0.tab=1",'
  .. '"fingerprint":"5fd73595ad6c3eef"},'
  .. '{"status":"firing","labels":{"alertname":"HighLatency","instance":"api-2:9100",'
  .. '"job":"api","service":"checkout","severity":"warning","team":"payments"},'
  .. '"annotations":{"description":"p99 latency of checkout on api-2 has been above 750 ms '
  .. 'for 5 minutes.","runbook":"restart-checkout","summary":"checkout p99 latency high"},'
  .. '"startsAt":"2026-11-22T13:08:37.079Z","endsAt":"0001-01-01T00:00:00Z",'
  .. '"generatorURL":"http://prometheus:9090/graph?g0.expr=histogram_quantile%280.99%2C+'
  .. 'rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29+%3E+0.75\\u0026g0.tab=1",'
  .. '"fingerprint":"a1c3e5f70b2d4968"}],'
  .. '"groupLabels":{"alertname":"HighLatency"},'
  .. '"commonLabels":{"alertname":"HighLatency","job":"api","service":"checkout",'
  .. '"severity":"warning","team":"payments"},'
  .. '"commonAnnotations":{"runbook":"restart-checkout","summary":"checkout p99 latency high"},'
  .. '"externalURL":"http://alertmanager:9093","version":"4",'
  .. '"groupKey":"{}:{alertname=\\"HighLatency\\"}","truncatedAlerts":0}\n'

local body = builtin
local path = os.getenv("HALE_BENCH_BODY")
if path and path ~= "" then
  local f = assert(io.open(path, "rb"))
  body = f:read("*a")
  f:close()
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Alertmanager/0.25.0"

function done(summary, latency, requests)
  io.write(string.format("body %d bytes; errors: connect %d, read %d, write %d, status %d, timeout %d\n",
    #body, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
