--[[ Record a cancellation and poke the node running the request.
  KEYS[1] in-flight lease (value "<nodeId> <streamId>")   KEYS[2] tombstone
  ARGV[1] tombstone ttl ms  ARGV[2] inbox channel prefix  ARGV[3] inbox envelope
  Returns 1 when the request is running somewhere, 0 otherwise. ]]
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local node = string.match(v, '^(%S+)')
redis.call('PUBLISH', ARGV[2] .. node, ARGV[3])
return 1
