-- wrk script: POST one AdmissionReview body over and over; print a JSON summary.
-- env: BODY (file), DELAY_MS (optional pacing per connection, for fixed-rate runs)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()

local d = tonumber(os.getenv("DELAY_MS") or "0")
if d > 0 then
  function delay() return d end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(99), latency:percentile(99.9), latency.max, e.connect, e.read,
    e.write, e.status, e.timeout))
end
