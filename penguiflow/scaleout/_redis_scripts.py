"""Lua scripts of the Redis job queue: each outcome is one atomic step on the server.

Every script that settles a job first checks that the calling consumer still owns the
stream entry (``XPENDING ... consumer``). A worker whose lease expired (its entry was
reclaimed by another worker) therefore cannot ack, complete or fail the job twice.
Times come from the server (``TIME``), so worker clocks do not matter.

:class:`QueueScripts` registers them on a client (redis-py ``Script`` objects: called by
SHA1, loaded again if the server forgot them).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

__all__ = ["QueueScripts"]

_OWNED = """
local function owned(stream, group, consumer, id)
  local p = redis.call('XPENDING', stream, group, id, id, 1, consumer)
  return #p > 0
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

COMPLETE = (
    _OWNED
    + """
-- Completes a batch of jobs.
-- KEYS: stream, stats, then one result key per job
-- ARGV: group, consumer, ttl seconds, then entry id and result record per job
-- Returns 1 (done) or 0 (the lease was lost) per job.
local done = {}
local n = 0
for i = 3, #KEYS do
  local id = ARGV[4 + (i - 3) * 2]
  if owned(KEYS[1], ARGV[1], ARGV[2], id) then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    redis.call('SET', KEYS[i], ARGV[5 + (i - 3) * 2], 'EX', ARGV[3])
    n = n + 1
    done[#done + 1] = 1
  else
    done[#done + 1] = 0
  end
end
if n > 0 then redis.call('HINCRBY', KEYS[2], 'completed', n) end
return done
"""
)

FAIL = (
    _OWNED
    + """
-- KEYS: stream, result, dead, stats; ARGV: group, consumer, entry id, record, ttl, dead maxlen
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'record', ARGV[4])
redis.call('HINCRBY', KEYS[4], 'failed', 1)
return 1
"""
)

REQUEUE = (
    _OWNED
    + """
-- KEYS: stream, delayed, stats; ARGV: group, consumer, entry id, job, delay ms, stat field
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
local delay = tonumber(ARGV[5])
if delay <= 0 then
  redis.call('XADD', KEYS[1], '*', 'job', ARGV[4])
else
  redis.call('ZADD', KEYS[2], now_ms() + delay, ARGV[4])
end
redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
return 1
"""
)

PROMOTE = (
    _OWNED
    + """
-- KEYS: delayed, stream; ARGV: most jobs to move
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
"""
)

RECLAIM = """
-- KEYS: stream; ARGV: group, consumer, min idle ms, cursor
-- Returns {next cursor, entry id or '', job or '', times delivered}.
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', 1)
local cursor = r[1]
for _, gone in ipairs(r[3] or {}) do
  redis.call('XACK', KEYS[1], ARGV[1], gone)
end
local entry = r[2][1]
if not entry then return {cursor, '', '', 0} end
local id, fields = entry[1], entry[2]
local job = ''
if fields then
  for i = 1, #fields, 2 do
    if fields[i] == 'job' then job = fields[i + 1] end
  end
end
if job == '' then
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  return {cursor, '', '', 0}
end
local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
local delivered = 1
if #p > 0 then delivered = tonumber(p[1][4]) end
return {cursor, id, job, delivered}
"""

HEARTBEAT = (
    _OWNED
    + """
-- KEYS: stream; ARGV: group, consumer, entry ids...
-- Resets the idle time of the entries the consumer still owns; returns the lost ones.
local lost = {}
for i = 3, #ARGV do
  if owned(KEYS[1], ARGV[1], ARGV[2], ARGV[i]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""
)


@dataclass(frozen=True, slots=True)
class QueueScripts:
    """The queue's scripts, registered on its client."""

    complete: AsyncScript
    fail: AsyncScript
    heartbeat: AsyncScript
    promote: AsyncScript
    reclaim: AsyncScript
    requeue: AsyncScript

    @classmethod
    def register(cls, client: Redis) -> QueueScripts:
        """Register every script on ``client`` (nothing is sent before the first call)."""
        return cls(
            complete=client.register_script(COMPLETE),
            fail=client.register_script(FAIL),
            heartbeat=client.register_script(HEARTBEAT),
            promote=client.register_script(PROMOTE),
            reclaim=client.register_script(RECLAIM),
            requeue=client.register_script(REQUEUE),
        )
