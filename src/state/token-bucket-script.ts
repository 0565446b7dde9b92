/**
 * Redis token-bucket lease in one Lua script (KEYS[1] = the bucket's own hash; ARGV = want, owed,
 * giveBack, ratePerSecond, burst; returns { granted, remaining }). Uses the server's TIME, so hosts'
 * clocks do not matter, and PEXPIREs the bucket at the moment it would be full again (a full bucket
 * equals a missing one), so idle keys cost nothing. Each bucket is its own key, outside the values
 * hash that mirrors rescan: rate-limit keys never grow it.
 */
export const TAKE_TOKENS_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local cur = redis.call('HMGET', KEYS[1], 't', 'at')
local level = burst
if cur[1] then
  level = tonumber(cur[1])
  local el = now - tonumber(cur[2])
  if el > 0 then level = math.min(burst, level + el * rate / 1000) end
end
level = math.min(burst, level + tonumber(ARGV[3]))
level = math.max(-burst, level - tonumber(ARGV[2]))
local granted = math.max(0, math.min(tonumber(ARGV[1]), math.floor(level + 1e-9)))
level = level - granted
local ttl = math.ceil((burst - level) * 1000 / rate)
if ttl > 0 then
  redis.call('HSET', KEYS[1], 't', tostring(level), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('DEL', KEYS[1])
end
return { granted, math.max(0, math.floor(level + 1e-9)) }`
