--[[ Release the standalone-GET claim only if this connection holds it.
  KEYS[1] listener   ARGV[1] connection id ]]
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
