-- ARGV: now, id, stateJson, specJson, activeTtlMs, maxActive, groupTtlMs
-- Returns 1 created, 0 refused (the owner's active bound), -1 id already taken.
local now, id = tonumber(ARGV[1]), ARGV[2]
purge(now)
if redis.call('HEXISTS', REC, id) == 1 then return -1 end
if redis.call('ZCARD', ACT) >= tonumber(ARGV[6]) then return 0 end
redis.call('HSET', REC, id, ARGV[3], id .. ':spec', ARGV[4])
redis.call('ZADD', EXP, now + tonumber(ARGV[5]), id)
redis.call('ZADD', ACT, now, id)
redis.call('ZADD', IDX, now, id)
touch_group(tonumber(ARGV[7]))
return 1
