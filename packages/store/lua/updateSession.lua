--[[ Set fields on an existing session only (never resurrect a deleted one).
  KEYS[1] session hash
  ARGV    field, value, field, value, ...
  Returns 1 when updated, 0 when the session does not exist. ]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
