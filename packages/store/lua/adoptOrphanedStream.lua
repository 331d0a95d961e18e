--[[ Take over the requests of a stream whose owning node died (a gateway resuming the upstream stream):
  only when no lease of them is live and the stream is not complete, like failOrphanedStream.lua, so of the
  nodes that find the stream orphaned at once exactly one adopts it (the others then see live leases).
  KEYS[1] stream   KEYS[2..] in-flight leases of the stream's requests
  ARGV[1] lease ms   ARGV[2] lease value (`<nodeId> <streamId>`, as beginStream.lua writes it)
  Returns 1 when the leases were taken, 0 otherwise. ]]
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then return 0 end
local fields = last[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'k' and fields[i + 1] == 'end' then return 0 end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'PX', ARGV[1]) end
return 1
