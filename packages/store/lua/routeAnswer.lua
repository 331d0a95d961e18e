--[[ Hand a client's answer to the node waiting for it.
  KEYS[1] pending (value: node id)   KEYS[2] answer
  ARGV[1] message  ARGV[2] answer ttl ms  ARGV[3] inbox channel prefix ('': the caller publishes)  ARGV[4] inbox envelope
  Returns the waiting node's id, false when nobody waits. Sharded pub/sub: the inbox is in another slot, which a
  script may not publish to, so the caller pokes it (a lost poke is covered by the owner's answer poll). ]]
local node = redis.call('GET', KEYS[1])
if not node then return false end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3] .. node, ARGV[4]) end
return node
