"""The Lua scripts the Redis backend runs (one round trip each) and their SHA1s.

Times are Redis server microseconds (`TIME`), so instances' clock drift never matters.

State layouts (plain strings):
- exact: 32-byte header `<dddd` (units ever admitted `total`, ring capacity `cap`, the
  first unit that was inside the window at the last admission `hint`, the last admission
  time), then a ring of up to `cap` 8-byte `<d` admission times: unit u lives in slot
  u % cap and times never decrease with u. The units inside the window are a suffix of
  the log; the call is admitted iff count + cost <= limit. Only the last `cap` units can
  matter, which makes the log exact with memory bounded by the limit. Small limits are
  read whole by the one MGET and rewritten with one SET; large ones (above
  PIECEWISE_ABOVE units) are read from `hint` onwards in growing chunks (GETRANGE) and
  patched in place (SETRANGE), so a call costs a few commands whatever the limit.
- bucketed: `buckets + 1` slots of `<dd` (bucket index, units); a bucket counts while it
  overlaps the window, so the count never under-states the window.
"""

from __future__ import annotations

import hashlib

__all__ = ["ACQUIRE", "ACQUIRE_SHA", "RECORD", "RECORD_SHA"]

# KEYS: state keys of the limits MGET reads, adaptive keys (m), block keys (m), then the
#       state keys read piecewise (large exact limits).
# ARGV[1]: `<dddddd` cost (0 = status of limit 1), n limits, m integrations, count of
#          keys to MGET, KEYS offset of the adaptive keys, multiplier floor.
# ARGV[1 + i]: limit i as `<d…`: key index, cap, window_us, mode (0 exact read whole,
#          1 exact read piecewise, 2 bucketed), buckets, ni, then ni indices (1..m) of the
#          integrations that govern it.
# Replies with a status string "allowed retry_us remaining blocker" (blocker: 1-based
# index of the limit with the longest wait) or, for cost 0,
# "used effective_limit multiplier_ppm blocked_us reset_us".
ACQUIRE = """
local floor, min = math.floor, math.min
local unpack_d, pack = struct.unpack, struct.pack
local cost, n, m, nm, fa, floor_m = unpack_d('<dddddd', ARGV[1])
local tm = redis.call('TIME')
local now = tm[1] * 1000000 + tm[2]
local vals = {}
if nm > 0 then vals = redis.call('MGET', unpack(KEYS, 1, nm)) end

-- admission time of unit u: from the whole string, from the last chunk read, or GETRANGE
local cs, ca, ce = nil, 0, 0
local function at(s, key, cap, u)
  local off = 32 + (u % cap) * 8
  if s then return (unpack_d('<d', s, off + 1)) end
  if cs and u >= ca and u < ce then return (unpack_d('<d', cs, (u - ca) * 8 + 1)) end
  return (unpack_d('<d', redis.call('GETRANGE', key, off, off + 7)))
end

local S, T, F, L = {}, {}, {}, {}
local allowed, retry, remaining, blocker = 1, 0, -1, 0
for i = 1, n do
  local d = ARGV[1 + i]
  local ki, cap, win, mode, nb, ni = unpack_d('<dddddd', d)
  local mu, bl = 1, 0
  for q = 0, ni - 1 do
    local j = unpack_d('<d', d, 49 + q * 8)
    local v = tonumber(vals[fa + j])
    if v then
      if v < floor_m then v = floor_m end
      if v < mu then mu = v end
    end
    local b = tonumber(vals[fa + m + j])
    if b and b > bl then bl = b end
  end
  local eff = floor(cap * mu + 1e-9)
  if eff < 1 then eff = 1 end
  local wait = 0
  if bl > now then wait = bl - now end
  local key = KEYS[ki]
  local count, reset = 0, 0
  if mode < 2 then
    local s, total, scap, hint, last = false, 0, cap, 0, 0
    if mode == 0 then s = vals[ki] else s = redis.call('GETRANGE', key, 0, 31) end
    if s and #s >= 32 then total, scap, hint, last = unpack_d('<dddd', s) else s = false end
    if s and mode == 0 and #s ~= 32 + min(total, scap) * 8 then s, total = false, 0 end
    if s and scap ~= cap then
      -- max_requests changed: keep the newest units that still fit
      if mode == 1 then s = redis.call('GET', key) end
      local keep = min(min(total, scap), cap)
      local parts = {}
      for u = total - keep, total - 1 do
        local off = 32 + (u % scap) * 8
        parts[#parts + 1] = string.sub(s, off + 1, off + 8)
      end
      s = pack('<dddd', keep, cap, 0, last) .. table.concat(parts)
      total, hint = keep, 0
      mode = 0
    end
    if mode == 1 then s = false end
    cs = nil
    local lo = total - cap
    if lo < 0 then lo = 0 end
    if hint < lo then hint = lo end
    local cutoff = now - win
    local first = total
    if total > 0 and s then
      -- gallop from the hint (the window's start only moves forward), then bisect
      local a, b, step = hint, hint, 1
      while b < total and unpack_d('<d', s, 33 + (b % cap) * 8) <= cutoff do
        a = b + 1
        b = b + step
        step = step * 2
      end
      if b > total then b = total end
      while a < b do
        local mid = floor((a + b) / 2)
        if unpack_d('<d', s, 33 + (mid % cap) * 8) > cutoff then b = mid else a = mid + 1 end
      end
      first = a
    elseif total > 0 then
      -- read forward from the hint in chunks that double, never across the ring's end
      local a, k = hint, 32
      while a < total do
        local e = min(total, a + k, a + cap - a % cap)
        local off = 32 + (a % cap) * 8
        cs, ca, ce = redis.call('GETRANGE', key, off, off + (e - a) * 8 - 1), a, e
        local x, y = a, e
        while x < y do
          local mid = floor((x + y) / 2)
          if unpack_d('<d', cs, (mid - a) * 8 + 1) > cutoff then y = mid else x = mid + 1 end
        end
        if x < e then
          first = x
          break
        end
        a, k = e, k * 2
      end
    end
    count = total - first
    S[i], T[i], F[i], L[i] = s, total, first, last
    if cost == 0 and count > 0 then reset = at(s, key, cap, first) + win - now end
    if cost > 0 and count + cost > eff then
      local w = win
      if cost <= eff then w = at(s, key, cap, first + count + cost - eff - 1) + win - now end
      if w > wait then wait = w end
    end
  else
    local R = nb + 1
    local bw = math.ceil(win / nb)
    local lo = floor((now - win) / bw)
    local hi = floor(now / bw)
    local s = vals[ki]
    if s and #s ~= R * 16 then s = false end
    S[i], T[i] = s, hi
    local oldest
    if s then
      local counts = {}
      for r = 0, R - 1 do
        local idx, c = unpack_d('<dd', s, r * 16 + 1)
        if idx >= lo and idx <= hi and c > 0 then
          count = count + c
          counts[idx] = c
        end
      end
      local need, acc = count + cost - eff, 0
      if count > 0 then
        for idx = lo, hi do
          local c = counts[idx]
          if c then
            oldest = oldest or idx
            acc = acc + c
            if cost > 0 and cost <= eff and need > 0 and acc >= need then
              local w = (idx + 1) * bw + win - now
              if w > wait then wait = w end
              need = 0
            end
          end
        end
      end
    end
    if oldest then reset = (oldest + 1) * bw + win - now end
    if cost > eff and win + bw > wait then wait = win + bw end
  end
  if cost == 0 then
    return redis.status_reply(string.format('%d %d %d %d %d', count, eff,
      floor(mu * 1000000 + 0.5), math.max(0, bl - now), reset))
  end
  if wait > 0 then
    allowed = 0
    if wait > retry then retry, blocker = wait, i end
  end
  local left = eff - count
  if bl > now then left = 0 end
  if remaining < 0 or left < remaining then remaining = left end
end

if allowed == 0 then
  if remaining < 0 then remaining = 0 end
  return redis.status_reply(string.format('0 %d %d %d', retry, remaining, blocker))
end

for i = 1, n do
  local ki, cap, win, mode, nb = unpack_d('<ddddd', ARGV[1 + i])
  local key = KEYS[ki]
  local s = S[i]
  if mode < 2 then
    local total = T[i]
    local t = now
    if L[i] > t then t = L[i] end
    local hdr = pack('<dddd', total + cost, cap, F[i], t)
    local tsb = pack('<d', t)
    local p0 = total % cap
    local ttl = math.ceil(win / 1000) + 1
    if s then
      if p0 + cost <= cap then
        s = hdr .. string.sub(s, 33, 32 + p0 * 8) .. string.rep(tsb, cost)
          .. string.sub(s, 33 + (p0 + cost) * 8)
      else
        local w = p0 + cost - cap
        s = hdr .. string.rep(tsb, w) .. string.sub(s, 33 + w * 8, 32 + p0 * 8)
          .. string.rep(tsb, cap - p0)
      end
      redis.call('SET', key, s, 'PX', ttl)
    elseif mode == 0 or total == 0 then
      redis.call('SET', key, hdr .. string.rep(tsb, cost), 'PX', ttl)
    else
      redis.call('SETRANGE', key, 0, hdr)
      if p0 + cost <= cap then
        redis.call('SETRANGE', key, 32 + p0 * 8, string.rep(tsb, cost))
      else
        redis.call('SETRANGE', key, 32 + p0 * 8, string.rep(tsb, cap - p0))
        redis.call('SETRANGE', key, 32, string.rep(tsb, p0 + cost - cap))
      end
      redis.call('PEXPIRE', key, ttl)
    end
  else
    local R = nb + 1
    local bw = math.ceil(win / nb)
    local hi = T[i]
    s = s or string.rep(pack('<dd', 0, 0), R)
    local r = hi % R
    local idx, c = unpack_d('<dd', s, r * 16 + 1)
    if idx ~= hi then c = 0 end
    s = string.sub(s, 1, r * 16) .. pack('<dd', hi, c + cost) .. string.sub(s, r * 16 + 17)
    redis.call('SET', key, s, 'PX', math.ceil((win + bw) / 1000) + 1)
  end
end
return redis.status_reply(string.format('1 0 %d 0', remaining - cost))
"""

# KEYS: adaptive key, block key.
# ARGV: factor, cap, recover, floor, ttl_ms, block_us.
# Returns {multiplier as a decimal string, blocked_us}.
RECORD = """
local old = tonumber(redis.call('GET', KEYS[1])) or 1
local v = math.min(old * tonumber(ARGV[1]), tonumber(ARGV[2])) + tonumber(ARGV[3])
local fl = tonumber(ARGV[4])
if v > 1 then v = 1 end
if v < fl then v = fl end
if v >= 1 then
  if old < 1 then redis.call('DEL', KEYS[1]) end
elseif v < old then
  redis.call('SET', KEYS[1], string.format('%.6f', v), 'PX', ARGV[5])
elseif v > old then
  redis.call('SET', KEYS[1], string.format('%.6f', v), 'KEEPTTL')
end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
local bu = tonumber(ARGV[6])
local untl = tonumber(redis.call('GET', KEYS[2])) or 0
if bu > 0 and now + bu > untl then
  untl = now + bu
  redis.call('SET', KEYS[2], string.format('%d', untl), 'PX', math.ceil(bu / 1000) + 1)
end
local left = 0
if untl > now then left = untl - now end
return {string.format('%.6f', v), left}
"""

ACQUIRE_SHA = hashlib.sha1(ACQUIRE.encode(), usedforsecurity=False).hexdigest()
RECORD_SHA = hashlib.sha1(RECORD.encode(), usedforsecurity=False).hexdigest()
