-- Apply entities' pre-aggregated updates, each all or nothing (see skewless/online/tile_writes.py).
-- KEYS: each entity's guard (a sorted set of event ids scored by event time), in order.
-- ARGV[1]: msgpack list of slot-code lists (one per view). Then per entity, in KEYS' order: which
-- code list (1-based), guard expiry (ms), forget ids scored below this (µs), n ids, n tiles, n raws;
-- its n ids and their n event times (µs); n tiles as key, msgpack partial, expiry (ms); n raw
-- appends as key, records, expiry (ms).
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

local result = {}
local at = 2
for e = 1, #KEYS do
  local guard = KEYS[e]
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
    for i = first_tile, first_raw - 1, 3 do
      local key, payload = ARGV[i], ARGV[i + 1]
      local current = redis.call('GET', key)
      if current then payload = cmsgpack.pack(merge(cmsgpack.unpack(current), cmsgpack.unpack(payload))) end
      redis.call('SET', key, payload, 'PXAT', ARGV[i + 2])
    end
    for i = first_raw, first_raw + 3 * n_raws - 1, 3 do
      redis.call('APPEND', ARGV[i], ARGV[i + 1])
      redis.call('PEXPIREAT', ARGV[i], ARGV[i + 2])
    end
  end
  result[e] = seen
  at = first_raw + 3 * n_raws
end
return result
