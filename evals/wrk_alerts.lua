-- evals/wrk_alerts.lua: wrk script posting realistic two-alert Alertmanager webhooks.
-- By default every request carries two new alerts (unique fingerprints and instance labels),
-- spread over 50 services, so each one takes the full path: parse, event row, two new alert
-- rows, incident updates. With HALE_BENCH_DISTINCT=N the alerts cycle through N distinct
-- ones instead, as Alertmanager's re-sends of a working set do.
local counter = 0
local distinct = tonumber(os.getenv("HALE_BENCH_DISTINCT") or "0")
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local template = [[{"receiver":"hale","status":"firing","alerts":[%s,%s],"groupLabels":{"alertname":"HighLatency"},"commonLabels":{"alertname":"HighLatency","severity":"warning"},"commonAnnotations":{"runbook":"restart-api"},"externalURL":"http://127.0.0.1:19093","version":"4","groupKey":"{}:{alertname=\"HighLatency\"}","truncatedAlerts":0}
]]

local alert = [[{"status":"firing","labels":{"alertname":"HighLatency","service":"svc-%d","instance":"10.0.%d.%d:9100","job":"node","severity":"warning"},"annotations":{"runbook":"restart-api","summary":"p99 latency above 500 ms for 5 minutes","description":"The 99th percentile of request latency on instance 10.0.%d.%d has been above 500 ms for 5 minutes."},"startsAt":"2026-11-22T13:08:22.079Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:19090/graph?g0.expr=histogram_quantile%%280.99%%29+%%3E+0.5\u0026g0.tab=1","fingerprint":"%08x%08x"}]]

local function one(n)
  local a, b = math.floor(n / 256) % 256, n % 256
  return string.format(alert, n % 50, a, b, a, b, thread_id, n)
end

request = function()
  counter = counter + 2
  if distinct > 0 then counter = counter % distinct end
  local body = string.format(template, one(counter), one(counter + 1))
  return wrk.format("POST", "/api/v1/alerts", {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
