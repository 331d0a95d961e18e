--[[ Add or remove one resource URI in a session's subscription list (JSON array in field "subs").
  KEYS[1] session hash   ARGV[1] uri   ARGV[2] '1' add / '0' remove
  Returns 1 when the session exists, 0 otherwise. ]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[1], 'subs')
local list = {}
if raw and raw ~= '' then list = cjson.decode(raw) end
local out = {}
for _, u in ipairs(list) do
  if u ~= ARGV[1] then out[#out + 1] = u end
end
if ARGV[2] == '1' then out[#out + 1] = ARGV[1] end
if #out == 0 then
  redis.call('HSET', KEYS[1], 'subs', '[]')
else
  redis.call('HSET', KEYS[1], 'subs', cjson.encode(out))
end
return 1
