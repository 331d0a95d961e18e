--[[ Add or remove one resource URI in a session's subscription set, bounded in count.
  KEYS[1] session hash   KEYS[2] subscription set (same hash tag)
  ARGV[1] uri   ARGV[2] '1' add / '0' remove   ARGV[3] most URIs per session (0 = no cap)
  A change bumps the hash's `subv` (instances compare it to skip loading the set) and gives the set the
  session's remaining TTL. Returns {1, version}, {0} when the session does not exist, {-1} when full. ]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local changed
if ARGV[2] == '1' then
  local max = tonumber(ARGV[3])
  if max > 0 and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 and redis.call('SCARD', KEYS[2]) >= max then return {-1} end
  changed = redis.call('SADD', KEYS[2], ARGV[1])
else
  changed = redis.call('SREM', KEYS[2], ARGV[1])
end
if changed == 0 then return {1, tonumber(redis.call('HGET', KEYS[1], 'subv') or '0')} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {1, redis.call('HINCRBY', KEYS[1], 'subv', 1)}
