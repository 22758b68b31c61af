-- wrk script: cycle through pre-generated requests, one per line of a file:
--   METHOD <tab> PATH <tab> TOKEN (or empty) <tab> BODY (or empty)
-- Thread k of n takes lines k, k+n, ...; so with enough lines no request is sent twice.
-- Arguments after "--": file, number of threads, and optionally a string every good
-- response body contains (then bodies are checked and counted).
-- done() prints one line "BENCH_JSON {...}" with the summary and latency percentiles.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local function checked_response(status, headers, body)
  if status == 200 and body and string.find(body, expect, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if sample == "" then sample = tostring(status) .. " " .. string.sub(body or "", 1, 400) end
  end
end

function init(args)
  local path = args[1]
  local nthreads = tonumber(args[2] or "1")
  expect = args[3]
  requests = {}
  local i = 0
  for line in io.lines(path) do
    if (i % nthreads) == (tid - 1) then
      local method, p, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      if token ~= "" then headers["Authorization"] = "Bearer " .. token end
      requests[#requests + 1] = wrk.format(method, p, headers, body)
    end
    i = i + 1
  end
  idx = 0
  sent = 0
  ok = 0
  bad = 0
  wrapped = 0
  sample = ""
  if expect and expect ~= "" then
    response = checked_response
  end
end

function request()
  idx = idx + 1
  if idx > #requests then
    idx = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  return requests[idx]
end

function done(summary, latency, requests)
  local sent, ok, bad, wrapped, sample = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    sent = sent + (t:get("sent") or 0)
    ok = ok + (t:get("ok") or 0)
    bad = bad + (t:get("bad") or 0)
    wrapped = wrapped + (t:get("wrapped") or 0)
    if sample == "" then sample = t:get("sample") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d,"sent":%d,"ok":%d,"bad":%d,' ..
    '"wrapped":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max, sent, ok, bad, wrapped))
  if sample ~= "" then io.write("BENCH_SAMPLE " .. sample .. "\n") end
end
