--[[ Release a single-holder lease (the standalone-GET listener, the gateway's upstream reader) only if this holder has it.
  KEYS[1] lease   ARGV[1] holder   Returns 1 when released. ]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
