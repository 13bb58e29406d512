"""The Lua scripts the Redis backend runs (one round trip each) and their SHA1s.

Times are Redis server microseconds (`TIME`, read once per call), so instances' clock
drift never matters. Each `redis.call` costs 1-2 µs of scripting glue, several times the
command itself, so the hot path keeps them few: one TIME, one MGET (adaptive and block keys,
bucketed windows) and, per exact limit, one GETRANGE and one SETRANGE.

State layouts (plain strings):
- exact: a 72-byte header `<9d` (units ever admitted `total`, ring capacity `cap`, layout
  version -3, `hint` = the first unit inside the window at the last admission, the last
  admission time, the server time until which the key's TTL is known to run, the units
  `[clo, ce)` the cache holds, and `fl` = the units flushed to the ring), a 128-byte tail
  (units `[fl, total)`, at most 16), a 128-byte cache (a copy of up to 16 ring slots),
  then at RING_OFFSET a ring of up to `cap` 8-byte `<d` admission times: unit u < fl lives
  in slot u % cap. Times never decrease with u, so the units inside the window are a
  suffix of the log and a call is admitted iff count + cost <= limit; only the last `cap`
  units can matter, which makes the log exact with memory bounded by the limit.
  A call reads header, tail and cache with one GETRANGE, finds the window's first unit by
  galloping from `hint` (the window's start only moves forward, so that is almost always a
  unit or two in the tail or cache; otherwise the ring is read 16 slots at a time and they
  become the cache) and writes the header and the tail with one SETRANGE; every 16 units
  the tail is flushed to the ring (one more SETRANGE). O(1) per limit, whatever the limit.
  The TTL is refreshed about once a window (to two windows past the newest unit), not on
  every call; a key with nothing left in its window is rewritten whole (SET … PX).
- bucketed: `buckets + 1` slots of `<dd` (bucket index, units); a bucket counts while it
  overlaps the window, so the count never under-states the window.
"""

from __future__ import annotations

import hashlib
import struct

__all__ = ["ACQUIRE", "ACQUIRE_SHA", "RECORD", "RECORD_SHA", "RING_OFFSET", "exact_times_us"]

_HEADER = struct.Struct("<9d")
# Where the ring of an exact state starts (after the header, the tail and the cache).
RING_OFFSET = _HEADER.size + 16 * 8 + 16 * 8

# KEYS: bucketed state keys (MGET), adaptive keys (m), block keys (m), then exact state keys.
# ARGV[1]: the struct format of ARGV[2] (`<` and one `d` per number).
# ARGV[2]: cost (0 = status of limit 1), n limits, m integrations, count of keys to MGET,
#          KEYS offset of the adaptive keys, multiplier floor; then per limit: key index,
#          cap, window_us, mode (0 exact, 2 bucketed), buckets, ni, then the ni indices
#          (1..m) of the integrations that govern it.
# Replies with an integer (admitted: the smallest remaining allowance), an array
# {retry_us, remaining, blocker} (refused; blocker: 1-based index of the limit with the
# longest wait) or, for cost 0, {used, effective_limit, multiplier_ppm, blocked_us, reset_us}.
ACQUIRE = """
local floor, min, max, ceil = math.floor, math.min, math.max, math.ceil
local unpack_d, pack, rep, sub = struct.unpack, struct.pack, string.rep, string.sub
local call = redis.call
local A = {unpack_d(ARGV[1], ARGV[2])}
local cost, n, m, nm, fa, floor_m = A[1], A[2], A[3], A[4], A[5], A[6]
local tm = call('TIME')
local now = tm[1] * 1000000 + tm[2]
local vals, mus, bls = {}, {}, {}
if nm > 0 then
  vals = call('MGET', unpack(KEYS, 1, nm))
  for j = 1, m do
    local v = tonumber(vals[fa + j])
    if v and v < floor_m then v = floor_m end
    mus[j], bls[j] = v, tonumber(vals[fa + m + j])
  end
end
local HDR, TN, CN = 72, 16, 16
local CACHE = HDR + TN * 8
local HEAD = CACHE + CN * 8
local ZT, ZC = rep('\0', TN * 8), rep('\0', CN * 8)

-- admission time of unit u of exact state L: from the tail, the cache, the rebuilt ring,
-- or the ring in Redis (whose next CN slots then become the cache)
local function at(L, u)
  if u >= L.fl then return (unpack_d('<d', L.h, HDR + (u - L.fl) * 8 + 1)) end
  local lo = L.clo
  if u >= lo and u < L.ce then return (unpack_d('<d', L.cache, L.co + (u - lo) * 8 + 1)) end
  local cap = L.cap
  if L.whole then return (unpack_d('<d', L.whole, (u % cap) * 8 + 1)) end
  local e = min(u + CN, L.fl)
  local p = u % cap
  local k = min(e - u, cap - p)
  local off = HEAD + p * 8
  local c = call('GETRANGE', L.key, off, off + k * 8 - 1)
  if k < e - u then c = c .. call('GETRANGE', L.key, HEAD, HEAD + (e - u - k) * 8 - 1) end
  L.cache, L.co, L.clo, L.ce, L.dirty = c .. sub(ZC, #c + 1), 0, u, e, true
  return (unpack_d('<d', L.cache, 1))
end

local S = {}
local allowed, retry, remaining, blocker = 1, 0, -1, 0
local p = 7
for i = 1, n do
  local ki, cap, win, mode, nb, ni = A[p], A[p + 1], A[p + 2], A[p + 3], A[p + 4], A[p + 5]
  local mu, bl = 1, 0
  for q = p + 6, p + 5 + ni do
    local j = A[q]
    local v, b = mus[j], bls[j]
    if v and v < mu then mu = v end
    if b and b > bl then bl = b end
  end
  p = p + 6 + ni
  local eff = floor(cap * mu + 1e-9)
  if eff < 1 then eff = 1 end
  local wait = 0
  if bl > now then wait = bl - now end
  local key = KEYS[ki]
  local count, reset = 0, 0
  if mode == 0 then
    local L = {key = key, cap = cap, total = 0, hint = 0, last = 0, exp = 0, clo = 0, ce = 0,
      fl = 0, h = '', cache = ZC, co = 0, whole = false, dirty = false}
    local h = call('GETRANGE', key, 0, HEAD - 1)
    if #h == HEAD then
      local total, scap, ver, hint, last, exp, clo, ce, fl = unpack_d('<ddddddddd', h)
      if ver == -3 then
        L.total, L.hint, L.last, L.exp, L.clo, L.ce, L.fl = total, hint, last, exp, clo, ce, fl
        L.h, L.cache, L.co = h, h, CACHE
        if total > 0 and scap ~= cap then
          -- max_requests changed: keep the newest units that still fit, ring from slot 0
          local s = call('GET', key)
          local keep = min(min(total, scap), cap)
          local parts = {}
          for u = total - keep, total - 1 do
            local off = HEAD + (u % scap) * 8
            if u >= fl then off = HDR + (u - fl) * 8 end
            parts[#parts + 1] = sub(s, off + 1, off + 8)
          end
          L.whole, L.total, L.hint, L.clo, L.ce, L.fl = table.concat(parts), keep, 0, 0, 0, keep
        end
      end
    end
    local total, last = L.total, L.last
    local cutoff = now - win
    local first = total
    if total > 0 and last > cutoff then
      -- gallop from the hint (the window's start only moves forward), then bisect
      local a = max(L.hint, total - cap)
      local b, step = a, 1
      while b < total and at(L, b) <= cutoff do
        a = b + 1
        b = b + step
        step = step * 2
      end
      if b > total then b = total end
      while a < b do
        local mid = floor((a + b) / 2)
        if at(L, mid) > cutoff then b = mid else a = mid + 1 end
      end
      first = a
    end
    L.first = first
    S[i] = L
    count = total - first
    if cost == 0 and count > 0 then reset = at(L, first) + win - now end
    if cost > 0 and count + cost > eff then
      local w = win
      if cost <= eff then w = at(L, total + cost - eff - 1) + win - now end
      if w > wait then wait = w end
    end
  else
    local R = nb + 1
    local bw = ceil(win / nb)
    local lo = floor((now - win) / bw)
    local hi = floor(now / bw)
    local s = vals[ki]
    if s and #s ~= R * 16 then s = false end
    S[i] = {s = s, hi = hi}
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
    return {count, eff, floor(mu * 1000000 + 0.5), max(0, bl - now), reset}
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
  return {retry, remaining, blocker}
end

p = 7
for i = 1, n do
  local ki, cap, win, mode, nb, ni = A[p], A[p + 1], A[p + 2], A[p + 3], A[p + 4], A[p + 5]
  p = p + 6 + ni
  local key = KEYS[ki]
  local L = S[i]
  if mode == 0 then
    local total, first = L.total, L.first
    local t = now
    if L.last > t then t = L.last end
    local tsb = pack('<d', t)
    local live = t + win -- the key must outlive its newest unit's window
    local ttl = ceil((live - now + win) / 1000) + 1
    if L.whole or first == total then
      -- rewrite the whole key: changed capacity, or nothing left in the window
      local ring, base = '', 0
      if first < total then ring, base = L.whole, total else first = 0 end
      local p0 = base % cap
      if p0 + cost <= cap then
        ring = sub(ring, 1, p0 * 8) .. rep(tsb, cost) .. sub(ring, (p0 + cost) * 8 + 1)
      else
        local w = p0 + cost - cap
        ring = rep(tsb, w) .. sub(ring, w * 8 + 1, p0 * 8) .. rep(tsb, cap - p0)
      end
      local nt = base + cost
      local lo = max(first, nt - cap)
      local ce = min(nt, lo + CN)
      local a = lo % cap
      local k = min(ce - lo, cap - a)
      local cache = sub(ring, a * 8 + 1, (a + k) * 8) .. sub(ring, 1, (ce - lo - k) * 8)
      call('SET', key, pack('<ddddddddd', nt, cap, -3, lo, t, now + (ttl - 1) * 1000, lo, ce, nt)
        .. ZT .. cache .. sub(ZC, #cache + 1) .. ring, 'PX', ttl)
    else
      -- new units go to the tail; a full tail is flushed to the ring with them
      local fl, nt = L.fl, total + cost
      local tail = sub(L.h, HDR + 1, HDR + (total - fl) * 8) .. rep(tsb, cost)
      if nt - fl > TN then
        local s0 = max(fl, nt - cap)
        if s0 > fl then tail = sub(tail, (s0 - fl) * 8 + 1) end
        local p0 = s0 % cap
        local k = min(nt - s0, cap - p0)
        if k < nt - s0 then
          call('SETRANGE', key, HEAD + p0 * 8, sub(tail, 1, k * 8))
          call('SETRANGE', key, HEAD, sub(tail, k * 8 + 1))
        else
          call('SETRANGE', key, HEAD + p0 * 8, tail)
        end
        fl, tail = nt, ''
      end
      local exp = L.exp
      if exp < live + 1000 then
        call('PEXPIRE', key, ttl)
        exp = now + (ttl - 1) * 1000
      end
      local hdr = pack('<ddddddddd', nt, cap, -3, first, t, exp, L.clo, L.ce, fl) .. tail
      if L.dirty then hdr = hdr .. sub(ZT, #tail + 1) .. L.cache end
      call('SETRANGE', key, 0, hdr)
    end
  else
    local R = nb + 1
    local bw = ceil(win / nb)
    local hi = L.hi
    local s = L.s or rep(pack('<dd', 0, 0), R)
    local r = hi % R
    local idx, c = unpack_d('<dd', s, r * 16 + 1)
    if idx ~= hi then c = 0 end
    s = sub(s, 1, r * 16) .. pack('<dd', hi, c + cost) .. sub(s, r * 16 + 17)
    call('SET', key, s, 'PX', ceil((win + bw) / 1000) + 1)
  end
end
return remaining - cost
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


def exact_times_us(raw: bytes) -> list[float]:
    """The admission times (server microseconds) an exact state holds, oldest first."""
    if len(raw) < RING_OFFSET:
        return []
    total, cap, _, _, _, _, _, _, flushed = (int(x) for x in _HEADER.unpack_from(raw))
    offsets = (
        _HEADER.size + (u - flushed) * 8 if u >= flushed else RING_OFFSET + (u % cap) * 8
        for u in range(max(0, total - cap), total)
    )
    return [struct.unpack_from("<d", raw, off)[0] for off in offsets]
