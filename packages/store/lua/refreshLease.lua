--[[ Extend a single-holder lease (the standalone-GET listener, the gateway's upstream reader) if this holder has it.
  KEYS[1] lease   ARGV[1] holder   ARGV[2] ttl ms   Returns 1 when held. ]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
