--[[ Classify a Last-Event-ID cursor within a stream.
  KEYS[1] stream   ARGV[1] entry id
  Returns {state, firstId}: state 1 = retained, 0 = not retained (firstId tells whether trimmed), -1 = no stream. ]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, false} end
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) > 0 then return {1, false} end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first == 0 then return {0, false} end
return {0, first[1][1]}
