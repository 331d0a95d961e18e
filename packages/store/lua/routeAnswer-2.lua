--[[ Hand a client's answer to the node waiting for it.
  KEYS[1] pending (value: node id)   KEYS[2] answer
  ARGV[1] message  ARGV[2] answer ttl ms  ARGV[3] inbox channel prefix  ARGV[4] inbox envelope
  Returns 1 when someone waits for it, 0 otherwise. ]]
local node = redis.call('GET', KEYS[1])
if not node then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3] .. node, ARGV[4])
return 1
