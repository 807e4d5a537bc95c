-- Apply entities' pre-aggregated updates, each all or nothing (see skewless/online/tile_writes.py).
-- KEYS: per entity, in order, its guard (a sorted set of event ids scored by event time), its state
-- (a hash of tiles and raw records) and its state's expiry index (a sorted set of fields scored by
-- expiry, ms); see skewless/online/tile_keys.py.
-- ARGV[1]: msgpack list of slot-code lists (one per view); ARGV[2]: now (ms). Then per entity, in
-- KEYS' order: which code list (1-based), guard expiry (ms), forget ids scored below this (µs), and
-- one msgpack array [ids, their event times (µs), tiles, raws]: tiles a flat list of field, msgpack
-- partial, expiry (µs); raws the same with records to append. (One argument, not one per id and
-- tile: packing and parsing thousands of arguments a batch cost more than the merges.)
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

local function int(x)  -- a number as redis.call should see it: all digits, no exponent
  return string.format('%d', x)
end

local now_ms = ARGV[2]
local result = {}
for e = 1, #KEYS / 3 do
  local guard, state, index = KEYS[3 * e - 2], KEYS[3 * e - 1], KEYS[3 * e]
  local at = 3 + 4 * (e - 1)
  codes = all_codes[tonumber(ARGV[at])]
  local update = cmsgpack.unpack(ARGV[at + 3])
  local ids, times, tiles, raws = update[1], update[2], update[3], update[4]
  redis.call('ZREMRANGEBYSCORE', guard, '-inf', '(' .. ARGV[at + 2])
  local seen = {}
  for i = 1, #ids, 1000 do  -- unpack() has a stack limit: chunks of 1000
    local last = math.min(i + 999, #ids)
    local scores = redis.call('ZMSCORE', guard, unpack(ids, i, last))
    for j = 1, #scores do
      if scores[j] then seen[#seen + 1] = ids[i + j - 1] end
    end
  end
  if #seen == 0 then
    for i = 1, #ids, 500 do
      local args = {}
      for j = i, math.min(i + 499, #ids) do
        args[#args + 1] = int(times[j])
        args[#args + 1] = ids[j]
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
    -- A field's expiry is fixed when it is made (its tile's end plus retention), so only new
    -- fields go into the index and can push the keys' expiry further.
    local latest = 0
    local function made(field, expires_us)
      local ms = math.floor(expires_us / 1000)
      redis.call('ZADD', index, int(ms), field)
      if ms > latest then latest = ms end
    end
    for i = 1, #tiles, 3 do
      local field, payload = tiles[i], tiles[i + 1]
      local current = redis.call('HGET', state, field)
      if current then
        redis.call('HSET', state, field, cmsgpack.pack(merge(cmsgpack.unpack(current), cmsgpack.unpack(payload))))
      else
        redis.call('HSET', state, field, payload)
        made(field, tiles[i + 2])
      end
    end
    for i = 1, #raws, 3 do
      local field = raws[i]
      local current = redis.call('HGET', state, field)
      if current then
        redis.call('HSET', state, field, current .. raws[i + 1])
      else
        redis.call('HSET', state, field, raws[i + 1])
        made(field, raws[i + 2])
      end
    end
    if latest > 0 then
      expire_at(state, int(latest))
      expire_at(index, int(latest))
    end
  end
  result[e] = seen
end
return result
