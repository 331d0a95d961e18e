--[[ Record a cancellation and poke the node running the request.
  KEYS[1] in-flight lease (value "<nodeId> <streamId>")   KEYS[2] tombstone
  ARGV[1] tombstone ttl ms  ARGV[2] inbox channel prefix ('': the caller publishes)  ARGV[3] inbox envelope
  Returns the running node's id, false when the request runs nowhere. Sharded pub/sub: as routeAnswer (a lost
  poke is covered by the owner's lease refresh, which reads the tombstone). ]]
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
local v = redis.call('GET', KEYS[1])
if not v then return false end
local node = string.match(v, '^(%S+)')
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2] .. node, ARGV[3]) end
return node
