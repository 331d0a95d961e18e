--[[ Drop from a session's set of stream ids those whose stream key is gone (expired).
  KEYS[1] the session's set of stream ids   KEYS[2..] the stream key of each id in ARGV (same order)
  ARGV[1..] stream ids (the set's members when the caller read it; ids added since are left alone)
  Returns how many ids were dropped. ]]
local dropped = 0
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[1 + i]) == 0 then dropped = dropped + redis.call('SREM', KEYS[1], ARGV[i]) end
end
return dropped
