-- Apply entities' pre-aggregated updates, each all or nothing (see skewless/online/tile_writes.py).
-- KEYS: per entity, in order, its guard (a sorted set of event ids scored by event time) and its
-- state (a hash of tiles and raw records); see skewless/online/tile_keys.py.
-- ARGV[1]: msgpack list of view specs [slot codes, field prefix -> µs a field is kept after its
-- start, field count past which expired fields are dropped]; ARGV[2]: now (µs). Then per entity, in
-- KEYS' order: which spec (1-based), guard expiry (ms), forget ids scored below this (µs), and one
-- msgpack array [ids, their event times (µs), tiles, raws]: tiles a flat list of field, msgpack
-- partial; raws the same with records to append. (One argument, not one per id and
-- tile: packing and parsing thousands of arguments a batch cost more than the merges.)
-- Returns per entity the ids its guard already held: if there are any, nothing of it was written.
-- The merge rules mirror skewless/aggregation/tiles.py; the contract suite checks both.
local specs = cmsgpack.unpack(ARGV[1])
local codes, keeps

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

local function int(x)  -- a number as redis.call should see it: all digits, no exponent
  return string.format('%d', x)
end

local now_us = tonumber(ARGV[2])

local function expiry_of(field)  -- a field's expiry follows from its name: <prefix><start µs>
  local prefix, start = string.match(field, '^(.*:)(%d+)$')
  return tonumber(start) + keeps[prefix]
end

local function expired(field)
  return expiry_of(field) <= now_us
end

local result = {}
for e = 1, #KEYS / 2 do
  local guard, state = KEYS[2 * e - 1], KEYS[2 * e]
  local at = 3 + 4 * (e - 1)
  local spec = specs[tonumber(ARGV[at])]
  codes, keeps = spec[1], spec[2]
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
    -- A field past its expiry is written afresh, as an expired key would be. Only a new field can
    -- push the state's expiry further (a field's expiry is fixed by its name).
    local latest = 0
    local function current_of(field)
      local current = redis.call('HGET', state, field)
      if current and expired(field) then return false end
      return current
    end
    local function made(field)
      local expires_us = expiry_of(field)
      if expires_us > latest then latest = expires_us end
    end
    for i = 1, #tiles, 2 do
      local field, payload = tiles[i], tiles[i + 1]
      local current = current_of(field)
      if current then
        redis.call('HSET', state, field, cmsgpack.pack(merge(cmsgpack.unpack(current), cmsgpack.unpack(payload))))
      else
        redis.call('HSET', state, field, payload)
        made(field)
      end
    end
    for i = 1, #raws, 2 do
      local field = raws[i]
      local current = current_of(field)
      if current then
        redis.call('HSET', state, field, current .. raws[i + 1])
      else
        redis.call('HSET', state, field, raws[i + 1])
        made(field)
      end
    end
    if latest > 0 then
      local ms = int(math.floor(latest / 1000))
      redis.call('PEXPIREAT', state, ms, 'NX')  -- a new key has no expiry, which GT would count as infinite
      redis.call('PEXPIREAT', state, ms, 'GT')
      -- Expired fields go once the hash holds clearly more than its live ones can be (spec[3]),
      -- so one scan of its fields drops many, however often new ones come.
      if redis.call('HLEN', state) > spec[3] then
        local dead = {}
        for _, field in ipairs(redis.call('HKEYS', state)) do
          if expired(field) then dead[#dead + 1] = field end
        end
        for i = 1, #dead, 1000 do
          redis.call('HDEL', state, unpack(dead, i, math.min(i + 999, #dead)))
        end
      end
    end
  end
  result[e] = seen
end
return result
