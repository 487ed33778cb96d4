-- wrk script of the webhooks benchmark: every request is a customer upsert
-- (PUT /api/v1/customers/by-external-id/{external_id}) with its own external id and its own Idempotency-Key,
-- so each one creates a customer and stores its first response under a new key.
-- Its argument (after "--") names the run ("warmup", "measured"): the runs' ids never meet.

local run = "run"
local sent = 0
local next_thread = 1

function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  run = args[1] or run
end

function request()
  sent = sent + 1
  local id = string.format("%s-%d-%d", run, thread_number, sent)
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = id
  local body = string.format(
    '{"name":"Customer %s","email":"%s@example.com","phone_numbers":["+4722%06d"],"language":"nb",'
      .. '"attributes":{"segment":"bench","sequence":%d}}',
    id, id, sent % 1000000, sent
  )
  return wrk.format("PUT", "/api/v1/customers/by-external-id/" .. id, headers, body)
end
