--[[ Extend the standalone-GET claim if this connection holds it.
  KEYS[1] listener   ARGV[1] connection id   ARGV[2] ttl ms   Returns 1 when held. ]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
