--[[ Take one of a principal's concurrent-stream slots (a sorted set of connection ids scored by expiry).
  KEYS[1] slots zset   ARGV[1] now ms   ARGV[2] slot ttl ms   ARGV[3] connection id   ARGV[4] max slots
  Expired slots (holders that died without releasing) are dropped first. Returns 1 when taken, 0 when full. ]]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
