-- wrk: refresh_token grants along rotating chains. The file named after `--` holds one
-- refresh token per line, one chain each; every answer's new refresh token goes back
-- into the pool for the connection that asks next. Each token is used once, as rotation
-- requires. A failed answer ends its chain, and wrk counts it as non-2xx.
-- Headers (Authorization, Content-Type) come from wrk's -H options.
local pool = {}
-- wrk calls request() once before the load, only to count the requests it returns; that
-- call must not spend a token.
local counted = false

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then pool[#pool + 1] = line end
  end
end

function request()
  if not counted then
    counted = true
    return wrk.format("POST", nil, nil, "grant_type=refresh_token")
  end
  local token = table.remove(pool) or "the-pool-is-empty"
  return wrk.format("POST", nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then pool[#pool + 1] = token end
end
