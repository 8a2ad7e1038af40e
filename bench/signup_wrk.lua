-- wrk script for bench_signup.py: each connection behaves like a browser. It opens the
-- sign-up page once (GET /signup), keeps the CSRF cookie and the form's signed token, then
-- posts sign-ups with unique email addresses. Counts accepted (200) and refused answers.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local token, cookie
sent, accepted, refused = 0, 0, 0
local prefix = os.getenv("SIGNUP_PREFIX") or "b"

function init(args)
  accepted, refused, sent = 0, 0, 0
end

function request()
  if not token then
    return wrk.format("GET", "/signup")
  end
  sent = sent + 1
  local body = "csrf_token=" .. token
    .. "&lang=en&channel=email&email=" .. prefix .. id .. "x" .. sent .. "%40example.org"
    .. "&postal_code=02115&radius=10&products=Moderna"
  return wrk.format("POST", "/signup", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "notifier_csrf=" .. cookie,
  }, body)
end

function response(status, headers, body)
  if not token then
    local found = body:match('name="csrf_token" value="([^"]+)"')
    local set = headers["Set-Cookie"] or headers["set-cookie"] or ""
    local nonce = set:match("notifier_csrf=([^;]+)")
    if found and nonce then
      token, cookie = found, nonce
    end
    return
  end
  if status == 200 and body:find('name="csrf_token"', 1, true) then
    return -- a late answer to one of the first GETs (the form page), not a sign-up
  end
  if status == 200 then
    accepted = accepted + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total_accepted, total_refused = 0, 0
  for _, thread in ipairs(threads) do
    total_accepted = total_accepted + thread:get("accepted")
    total_refused = total_refused + thread:get("refused")
  end
  io.write(string.format(
    "RESULT accepted=%d refused=%d requests=%d errors=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f seconds=%.3f\n",
    total_accepted, total_refused, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000.0, latency:percentile(99) / 1000.0, latency.max / 1000.0,
    summary.duration / 1e6))
end
