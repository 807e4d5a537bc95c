-- Apply one entity's events to its tiles, each event id once (see skewless/online/tile_writes.py).
-- KEYS[1]: the guard (a sorted set of event ids scored by event time).
-- ARGV[1]: slot codes (msgpack list); ARGV[2]: guard expiry (ms); ARGV[3]: forget ids scored below
-- this (µs); ARGV[4]: events, msgpack [[id, ts_us, [[key, payload, expires_ms, append], ...]], ...].
-- The merge rules mirror skewless/aggregation/tiles.py; the contract suite checks both.
local codes = cmsgpack.unpack(ARGV[1])
local guard = KEYS[1]

local function later(x, y)
  if x[1] ~= y[1] then return x[1] > y[1] end
  return x[2] >= y[2]
end

local function merge(a, b)
  for i, code in ipairs(codes) do
    local x, y = a[i], b[i]
    if code == 'a' then
      a[i] = x + y
    elseif #y == 0 then
      a[i] = x
    elseif #x == 0 then
      a[i] = y
    elseif code == 'n' then
      if y[1] < x[1] then a[i] = y end
    elseif code == 'x' then
      if y[1] > x[1] then a[i] = y end
    elseif code == 'l' then
      if not later(x, y) then a[i] = y end
    else
      local n = tonumber(string.sub(code, 2))
      local out, p, q = {}, 1, 1
      while #out < n and (p <= #x or q <= #y) do
        if q > #y or (p <= #x and later(x[p], y[q])) then
          out[#out + 1] = x[p]; p = p + 1
        else
          out[#out + 1] = y[q]; q = q + 1
        end
      end
      a[i] = out
    end
  end
  return a
end

redis.call('ZREMRANGEBYSCORE', guard, '-inf', '(' .. ARGV[3])
local applied = 0
for _, event in ipairs(cmsgpack.unpack(ARGV[4])) do
  if redis.call('ZADD', guard, 'NX', event[2], event[1]) == 1 then
    applied = applied + 1
    for _, w in ipairs(event[3]) do
      local key, payload = w[1], w[2]
      if w[4] then
        redis.call('APPEND', key, payload)
      else
        local current = redis.call('GET', key)
        if current then payload = cmsgpack.pack(merge(cmsgpack.unpack(current), cmsgpack.unpack(payload))) end
        redis.call('SET', key, payload)
      end
      redis.call('PEXPIREAT', key, w[3])
    end
  end
end
redis.call('PEXPIREAT', guard, ARGV[2])
return applied
