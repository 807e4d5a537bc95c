-- Apply entities' pre-aggregated updates, each all or nothing (see skewless/online/tile_writes.py).
-- KEYS: per entity, in order, its guard (a sorted set of event ids scored by event time), its
-- state (a hash of tiles and raw records) and its window summary (a string); see
-- skewless/online/tile_keys.py.
-- ARGV[1]: msgpack list of view specs [slot codes, field prefix -> µs a field is kept after its
-- start, field count past which expired fields are dropped, summary spec or false]; a summary spec
-- is [series levels (s), their spans (µs), row slot codes, ordered slot codes, µs kept after the
-- latest event] (skewless/aggregation/summaries.py). ARGV[2]: now (µs). Then per entity, in
-- KEYS' order: which spec (1-based), guard expiry (ms), forget ids scored below this (µs), one
-- msgpack array [ids, their event times (µs), tiles, raws]: tiles a flat list of field, msgpack
-- partial; raws the same with records to append; and the summary of its events (a delta, binary,
-- empty when the view has none). (One argument, not one per id and tile: packing and parsing
-- thousands of arguments a batch cost more than the merges.)
-- Returns per entity the ids its guard already held: if there are any, nothing of it was written.
-- The merge rules mirror skewless/aggregation/tiles.py and summaries.py; the contract suite checks both.
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


-- Window summaries (skewless/aggregation/summaries.py): little-endian float64 words
-- [words, tail bytes, max_ts, (cutoff, rows) per series, rows...] then a msgpack tail, padded.
local function words(s, position, count)  -- count float64 words from a 1-based byte position, as a table
  return {struct.unpack('<' .. string.rep('d', count), s, position)}
end

local function tail_of(s, head)
  if head[2] == 0 then return false end
  return cmsgpack.unpack(string.sub(s, 8 * head[1] + 1, 8 * head[1] + head[2]))
end

-- The first of count rows (each `size` bytes, from byte `first`) whose start is at least `value`, from 0.
local function first_at_least(s, first, count, size, lo, value)
  local hi = count
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if struct.unpack('<d', s, first + mid * size) < value then lo = mid + 1 else hi = mid end
  end
  return lo
end

-- Merge a delta into the stored summary, series by series: rows sorted by start, one per bucket
-- (the stored row first, then the delta's slots merged in), none before the series' cutoff (the
-- later of the stored one and floor_level(now - span)). Stored rows the delta does not touch are
-- copied as bytes: a delta holds a few recent buckets, a summary up to hundreds.
local function merge_summary(key, delta, sspec)
  local levels, spans, row_codes, ordered_codes = sspec[1], sspec[2], sspec[3], sspec[4]
  local width, nseries = #row_codes + 1, #levels
  local size, head_words = 8 * (#row_codes + 1), 3 + 2 * nseries
  local new_head = words(delta, 1, head_words)
  local old = redis.call('GET', key)
  local old_head = old and words(old, 1, head_words) or false
  local head = {0, 0, new_head[3]}
  if old_head and old_head[3] > head[3] then head[3] = old_head[3] end
  local parts, total = {''}, head_words
  local p, q = 8 * head_words + 1, 8 * head_words + 1  -- byte positions of the current series' rows
  for i = 1, nseries do
    local step = levels[i] * 1000000
    local cutoff = math.floor((now_us - spans[i]) / step) * step
    local old_rows, new_rows = 0, new_head[3 + 2 * i]
    if old_head then
      if old_head[2 + 2 * i] > cutoff then cutoff = old_head[2 + 2 * i] end
      old_rows = old_head[3 + 2 * i]
    end
    local k = old and first_at_least(old, p, old_rows, size, 0, cutoff) or 0  -- stored rows before k are dropped
    local rows = old_rows - k
    for r = 0, new_rows - 1 do
      local row = words(delta, q + r * size, width)
      if row[1] >= cutoff then
        local next_k = old and first_at_least(old, p, old_rows, size, k, row[1]) or 0
        if next_k > k then parts[#parts + 1] = string.sub(old, p + k * size, p + next_k * size - 1) end
        k = next_k
        if k < old_rows and struct.unpack('<d', old, p + k * size) == row[1] then
          local merged = words(old, p + k * size, width)
          for j, code in ipairs(row_codes) do
            local u, v = merged[j + 1], row[j + 1]
            if code == 'a' then merged[j + 1] = u + v
            elseif code == 'n' then if v < u then merged[j + 1] = v end
            elseif v > u then merged[j + 1] = v end
          end
          parts[#parts + 1] = struct.pack('<' .. string.rep('d', width), unpack(merged, 1, width))
          k = k + 1
        else
          parts[#parts + 1] = string.sub(delta, q + r * size, q + (r + 1) * size - 1)
          rows = rows + 1
        end
      end
    end
    if old and k < old_rows then parts[#parts + 1] = string.sub(old, p + k * size, p + old_rows * size - 1) end
    head[2 + 2 * i], head[3 + 2 * i] = cutoff, rows
    total = total + rows * width
    p, q = p + old_rows * size, q + new_rows * size
  end
  head[1] = total
  local tail = tail_of(delta, new_head)
  if tail and old then
    local saved = codes
    codes = ordered_codes
    tail = merge(tail_of(old, old_head), tail)
    codes = saved
  end
  local packed_tail = tail and cmsgpack.pack(tail) or ''
  head[2] = #packed_tail
  parts[1] = struct.pack('<' .. string.rep('d', head_words), unpack(head, 1, head_words))
  parts[#parts + 1] = packed_tail .. string.rep('\0', (8 - #packed_tail % 8) % 8)
  -- Kept until its latest event leaves every window; that time only moves forward.
  redis.call('SET', key, table.concat(parts), 'PXAT', int(math.floor((head[3] + sspec[5]) / 1000)))
end

local result = {}
for e = 1, #KEYS / 3 do
  local guard, state, summary = KEYS[3 * e - 2], KEYS[3 * e - 1], KEYS[3 * e]
  local at = 3 + 5 * (e - 1)
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
    if spec[4] and #ARGV[at + 4] > 0 then merge_summary(summary, ARGV[at + 4], spec[4]) end
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
