-- Apply entities' pre-aggregated updates, each all or nothing (see skewless/online/tile_writes.py).
-- KEYS: per entity, in order, its guard (a sorted set of event ids scored by event time), its state
-- (a hash of tiles and raw records) and its state's expiry index (a sorted set of fields scored by
-- expiry, ms); see skewless/online/tile_keys.py.
-- ARGV[1]: msgpack list of slot-code lists (one per view); ARGV[2]: now (ms). Then per entity, in
-- KEYS' order: which code list (1-based), guard expiry (ms), forget ids scored below this (µs),
-- n ids, n tiles, n raws; its n ids and their n event times (µs); n tiles as field, msgpack
-- partial, expiry (ms); n raw appends as field, records, expiry (ms).
-- Returns per entity the ids its guard already held: if there are any, nothing of it was written.
-- The merge rules mirror skewless/aggregation/tiles.py; the contract suite checks both.
local all_codes = cmsgpack.unpack(ARGV[1])
local codes

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

local function expire_at(key, ms)
  redis.call('PEXPIREAT', key, ms, 'NX')  -- a new key has no expiry, which GT would count as infinite
  redis.call('PEXPIREAT', key, ms, 'GT')
end

local now_ms = ARGV[2]
local result = {}
local at = 3
for e = 1, #KEYS / 3 do
  local guard, state, index = KEYS[3 * e - 2], KEYS[3 * e - 1], KEYS[3 * e]
  codes = all_codes[tonumber(ARGV[at])]
  local n_ids, n_tiles, n_raws = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
  local first_id = at + 6
  local first_tile = first_id + 2 * n_ids
  local first_raw = first_tile + 3 * n_tiles
  redis.call('ZREMRANGEBYSCORE', guard, '-inf', '(' .. ARGV[at + 2])
  local seen = {}
  for i = first_id, first_id + n_ids - 1, 1000 do  -- unpack() has a stack limit: chunks of 1000
    local last = math.min(i + 999, first_id + n_ids - 1)
    local scores = redis.call('ZMSCORE', guard, unpack(ARGV, i, last))
    for j = 1, #scores do
      if scores[j] then seen[#seen + 1] = ARGV[i + j - 1] end
    end
  end
  if #seen == 0 then
    for i = first_id, first_id + n_ids - 1, 500 do
      local args = {}
      for j = i, math.min(i + 499, first_id + n_ids - 1) do
        args[#args + 1] = ARGV[j + n_ids]
        args[#args + 1] = ARGV[j]
      end
      redis.call('ZADD', guard, unpack(args))
    end
    redis.call('PEXPIREAT', guard, ARGV[at + 1])
    -- Fields past their expiry are dropped first, so a write to one starts it afresh (as an
    -- expired key would).
    local expired = redis.call('ZRANGEBYSCORE', index, '-inf', now_ms)
    for i = 1, #expired, 1000 do
      redis.call('HDEL', state, unpack(expired, i, math.min(i + 999, #expired)))
    end
    if #expired > 0 then redis.call('ZREMRANGEBYSCORE', index, '-inf', now_ms) end
    local latest, latest_arg = 0, nil  -- the arg itself: Lua would print a number with 14 digits
    for i = first_tile, first_raw - 1, 3 do
      local field, payload = ARGV[i], ARGV[i + 1]
      local current = redis.call('HGET', state, field)
      if current then payload = cmsgpack.pack(merge(cmsgpack.unpack(current), cmsgpack.unpack(payload))) end
      redis.call('HSET', state, field, payload)
      redis.call('ZADD', index, ARGV[i + 2], field)
      if tonumber(ARGV[i + 2]) > latest then latest, latest_arg = tonumber(ARGV[i + 2]), ARGV[i + 2] end
    end
    for i = first_raw, first_raw + 3 * n_raws - 1, 3 do
      local field, payload = ARGV[i], ARGV[i + 1]
      local current = redis.call('HGET', state, field)
      redis.call('HSET', state, field, current and (current .. payload) or payload)
      redis.call('ZADD', index, ARGV[i + 2], field)
      if tonumber(ARGV[i + 2]) > latest then latest, latest_arg = tonumber(ARGV[i + 2]), ARGV[i + 2] end
    end
    if latest_arg then
      expire_at(state, latest_arg)
      expire_at(index, latest_arg)
    end
  end
  result[e] = seen
  at = first_raw + 3 * n_raws
end
return result
