-- Replays a file of prepared requests, one per line: METHOD <tab> PATH <tab> TOKEN [<tab> JSON BODY].
-- Every connection of the (single) thread takes the next line, so a write is never sent twice.
-- Arguments: the file, then optional think time bounds in milliseconds.
local prepared = {}
local next_index = 0
local think_min, think_max = 0, 0

function init(args)
  think_min = tonumber(args[2] or "0")
  think_max = tonumber(args[3] or "0")
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^(%S+)\t(%S+)\t(%S+)\t?(.*)$")
    local headers = { ["Authorization"] = "Bearer " .. token, ["Accept-Encoding"] = "gzip" }
    if body == nil or body == "" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    prepared[#prepared + 1] = wrk.format(method, path, headers, body)
  end
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end

function delay()
  if think_max > 0 then
    return math.random(think_min, think_max)
  end
  return 0
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max
  ))
end
