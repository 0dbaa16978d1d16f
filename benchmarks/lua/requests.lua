-- Cycles through the requests in a TSV file: METHOD, PATH, IF-MATCH (or -), BODY (or -).
-- Args: <requests.tsv> <token, cookie:NAME=VALUE, or -> [track]. A "cookie:" credential is
-- sent as the Cookie header (the web app's pages), a token as "Authorization: Bearer".
-- With "track", PATCH requests send the task's latest ETag, learnt from each response ("id" in the body, ETag header).
local requests, etags, paths, order = {}, {}, {}, {}
local i, token, track = 0, nil, false

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "([^\t]*)\t?") do
    fields[#fields + 1] = field
    if #fields == 4 then break end
  end
  return fields
end

function init(args)
  token = args[2] ~= "-" and args[2] or nil
  track = args[3] == "track"
  for line in io.lines(args[1]) do
    local f = split(line)
    local headers = {}
    if token and string.sub(token, 1, 7) == "cookie:" then
      headers["Cookie"] = string.sub(token, 8)
    elseif token then
      headers["Authorization"] = "Bearer " .. token
    end
    if f[4] ~= nil and f[4] ~= "-" and f[4] ~= "" then
      headers["Content-Type"] = "application/json"
    end
    if track then
      local id = string.match(f[2], "/tasks/([%x-]+)$")
      order[#order + 1] = { method = f[1], path = f[2], id = id, body = f[4], headers = headers }
      etags[id] = f[3]
    else
      if f[3] ~= nil and f[3] ~= "-" and f[3] ~= "" then headers["If-Match"] = f[3] end
      local body = (f[4] ~= "-" and f[4] ~= "") and f[4] or nil
      requests[#requests + 1] = wrk.format(f[1], f[2], headers, body)
    end
  end
  if not track then
    -- Without a response() function wrk skips handing us every response body.
    response = nil
  end
end

function request()
  i = i + 1
  if track then
    local r = order[(i - 1) % #order + 1]
    r.headers["If-Match"] = etags[r.id]
    return wrk.format(r.method, r.path, r.headers, r.body)
  end
  return requests[(i - 1) % #requests + 1]
end

function response(status, headers, body)
  local id = string.match(body, '"id":"([%x-]+)"')
  local tag = headers["etag"] or headers["ETag"]
  if id and tag then etags[id] = tag end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
