--[[ Count a session in its principal's session index (a sorted set of session ids scored by an upper bound
  of their expiry), refusing it when the principal is at its budget.
  KEYS[1] index zset   ARGV[1] now ms   ARGV[2] score (expiry bound, ms)   ARGV[3] session id
  ARGV[4] most sessions (0 = no cap)   ARGV[5] key ttl ms   ARGV[6] '1' = only refresh an entry present
  Entries of expired sessions are dropped first. Returns 1 when counted, 0 when refused (or absent with
  ARGV[6] = '1'). ]]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local present = redis.call('ZSCORE', KEYS[1], ARGV[3]) ~= false
if ARGV[6] == '1' and not present then return 0 end
local max = tonumber(ARGV[4])
if max > 0 and not present and redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 1
