/**
 * The message log's Lua scripts (store/message-log.ts builds their arguments; a delivery's event
 * goes in the stream as `c`, compact: domain/message-log.ts compactDeliveryEvent), each run under
 * pcall so a log write can never fail the caller's transaction, and defined as an ioredis command
 * on every connection of ours so it goes out by SHA.
 */
import type { ChainableCommander } from 'ioredis';
import type { Redis } from './redis-client.ts';

/**
 * Delivery states with an index of their own (messages with a delivery in that state). Not
 * `queued` nor `delivered`, the states nearly every message passes through: a scan of the time
 * index, newest first, finds those densely (queued ones are the newest), and indexing them would
 * cost every message two more writes.
 */
export const INDEXED_STATES = ['delivering', 'retrying', 'dead-lettered', 'replayed'] as const;
const INDEXED_LUA = `local INDEXED = { ${INDEXED_STATES.map((st) => `['${st}'] = true`).join(', ')} }`;

// Shared Lua: drop the oldest records past the cap (a few per accept, so it converges).
const EVICT = `
local function evict(prefix, index, max, statesCsv)
  local over = redis.call('ZCARD', index) - max
  if over <= 0 then return 0 end
  if over > 10 then over = 10 end
  local popped = redis.call('ZPOPMIN', index, over)
  for i = 1, #popped, 2 do
    local id = popped[i]
    local rec = prefix .. ':log:m:' .. id
    local hosts = redis.call('HGET', rec, 'h')
    if hosts then for h in string.gmatch(hosts, '[^,]+') do redis.call('ZREM', prefix .. ':log:idx:host:' .. h, id) end end
    for s in string.gmatch(statesCsv, '[^,]+') do redis.call('ZREM', prefix .. ':log:idx:state:' .. s, id) end
    redis.call('DEL', rec)
  end
  redis.call('HINCRBY', prefix .. ':log:cuts', 'cap', #popped / 2)
  return #popped / 2
end`;

// Shared Lua: ARGV from `from` on, as a table (a script that carries a log write after its own arguments).
export const ARGS_FROM_LUA = `
local function argsFrom(from)
  local t = {}
  for i = from, #ARGV do t[#t + 1] = ARGV[i] end
  return t
end`;

// Lua: logAccept(A), the record of an accepted message. Keys: one declared, for routing only (all
// derive from the prefix: one slot with a {hash-tag} prefix). A: prefix, id, receivedAt, record JSON, hostnames
// csv, ttl s, max ('': no cap check this time), states csv, add hostnames ('1': to the set of
// hostnames), delivery JSONs... Run alone (mxhookLogAccept) or at the end of the store script
// (store/incoming.ts), so most accepts log in the command that stores them.
export const LOG_ACCEPT_LUA = `${EVICT}
local function logAccept(A)
  local prefix, id, at = A[1], A[2], A[3]
  local rec = prefix .. ':log:m:' .. id
  -- the record, its deliveries, and 'u': its accepted event is not published yet (PUBLISH_ACCEPTED)
  local fields = { 'm', A[4], 'h', A[5], 'u', '1' }
  for i = 10, #A do
    fields[#fields + 1] = 'd.' .. (i - 9)
    fields[#fields + 1] = A[i]
  end
  redis.call('HSET', rec, unpack(fields))
  redis.call('EXPIRE', rec, A[6])
  redis.call('ZADD', prefix .. ':log:idx', at, id)
  for h in string.gmatch(A[5], '[^,]+') do
    redis.call('ZADD', prefix .. ':log:idx:host:' .. h, at, id)
    if A[9] == '1' then redis.call('SADD', prefix .. ':log:hostnames', h) end
  end
  if A[7] ~= '' then evict(prefix, prefix .. ':log:idx', tonumber(A[7]), A[8]) end
end`;

const ACCEPT_SCRIPT = `${LOG_ACCEPT_LUA}
local ok = pcall(logAccept, ARGV)
return ok and 1 or 0`;

// Shared Lua: publishes a record's accepted event the first time either is called: the accept's
// confirm once the message's jobs exist, or the first write about one of its deliveries, so the
// event is never published for mail its sender was refused (an undone accept deletes the record)
// and always precedes its deliveries' events. 'u' on the record: not published yet. The stream
// entry is `a` = the message id: readers build the event from the record
// (store/message-log-events.ts readLogEvents), so the accept's facts are written once.
const PUBLISH_ACCEPTED = `
local function publishAccepted(prefix, rec, id, maxEvents)
  if redis.call('HDEL', rec, 'u') == 0 then return end
  redis.call('XADD', prefix .. ':log:events', 'MAXLEN', '~', maxEvents, '*', 'a', id)
end`;

// ARGV: prefix, id, maxEvents, then optionally the accept journal's key and the message's member
// in it: the accept's journal clear goes in the same command. Returns what the ZREM did (1: the
// entry was there), else 1.
const CONFIRM_SCRIPT = `${PUBLISH_ACCEPTED}
local cleared = 1
if ARGV[4] then cleared = redis.call('ZREM', ARGV[4], ARGV[5]) end
pcall(publishAccepted, ARGV[1], ARGV[1] .. ':log:m:' .. ARGV[2], ARGV[2], ARGV[3])
return cleared`;

// Shared Lua: a delivery's move to `state`, when `allowed` (csv) holds its current state: changes
// `d` (the decoded delivery) and the state indexes; false (nothing changed) when not valid.
const APPLY_MOVE = `
${INDEXED_LUA}
local function applyMove(prefix, id, n, rec, d, state, allowed, updatedAt, nextAt, replayedAs, receivedAt)
  if not string.find(',' .. allowed .. ',', ',' .. d.state .. ',', 1, true) then return false end
  local old = d.state
  d.state = state
  d.updatedAt = tonumber(updatedAt)
  d.nextAttemptAt = nil
  if nextAt ~= '' then d.nextAttemptAt = tonumber(nextAt) end
  if replayedAs ~= '' then d.replayedAs = replayedAs end
  if old ~= state and INDEXED[old] then
    -- the old state's index keeps the message while another delivery is still in it; deliveries
    -- are numbered from 1 (one, the common case, costs a single HGET here)
    local still, i = false, 1
    while true do
      if tostring(i) ~= n then
        local other = redis.call('HGET', rec, 'd.' .. i)
        if not other then break end
        if cjson.decode(other).state == old then still = true break end
      end
      i = i + 1
    end
    if not still then redis.call('ZREM', prefix .. ':log:idx:state:' .. old, id) end
  end
  if old ~= state and INDEXED[state] then redis.call('ZADD', prefix .. ':log:idx:state:' .. state, receivedAt, id) end
  return true
end`;

// Shared Lua: the same move read and written back (a state write of its own). False when the
// record or delivery is gone or the move is not valid (nothing written).
const MOVE_STATE = `${APPLY_MOVE}
local function moveState(prefix, id, n, state, allowed, updatedAt, nextAt, replayedAs, receivedAt)
  local rec = prefix .. ':log:m:' .. id
  local raw = redis.call('HGET', rec, 'd.' .. n)
  if not raw then return false end
  local d = cjson.decode(raw)
  if not applyMove(prefix, id, n, rec, d, state, allowed, updatedAt, nextAt, replayedAs, receivedAt) then return false end
  redis.call('HSET', rec, 'd.' .. n, cjson.encode(d))
  return true
end`;

// Shared Lua: a delivery's timeline (JSON, or false when it has none yet) with one attempt more,
// the newest `kept`.
const APPENDED = `
local function appended(list, attempt, kept)
  if not list then return '[' .. attempt .. ']' end
  local all = cjson.decode(list)
  table.insert(all, cjson.decode(attempt))
  while #all > tonumber(kept) do table.remove(all, 1) end
  return cjson.encode(all)
end`;

// ARGV: prefix, id, n, new state, allowed-from csv, updatedAt, nextAttemptAt|'', replayedAs|'', receivedAt, event JSON, maxEvents
const STATE_SCRIPT = `${PUBLISH_ACCEPTED}${MOVE_STATE}
local ok, res = pcall(function()
  publishAccepted(ARGV[1], ARGV[1] .. ':log:m:' .. ARGV[2], ARGV[2], ARGV[11])
  if not moveState(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]) then return 0 end
  redis.call('XADD', ARGV[1] .. ':log:events', 'MAXLEN', '~', ARGV[11], '*', 'c', ARGV[10])
  return 1
end)
return ok and res or 0`;

// ARGV: prefix, id, n, attempt JSON, kept, event JSON, maxEvents
const ATTEMPT_SCRIPT = `${PUBLISH_ACCEPTED}${APPENDED}
local ok = pcall(function()
  local rec = ARGV[1] .. ':log:m:' .. ARGV[2]
  if redis.call('EXISTS', rec) == 0 then return end
  publishAccepted(ARGV[1], rec, ARGV[2], ARGV[7])
  local field = 'a.' .. ARGV[3]
  redis.call('HSET', rec, field, appended(redis.call('HGET', rec, field), ARGV[4], ARGV[5]))
  redis.call('XADD', ARGV[1] .. ':log:events', 'MAXLEN', '~', ARGV[7], '*', 'c', ARGV[6])
end)
return ok and 1 or 0`;

// Lua: logAttemptEnded(A), an attempt and the move it led to (the worker's one log write per
// attempt): the move, the attempt, what parsing found (first attempt), and the move's event,
// carrying the attempt's facts (none when the move was not valid: a late write about a delivery
// that ended; the attempt is still kept in its timeline). One read and one write of the record.
// Run alone (mxhookLogAttemptEnded) or at the start of the release script (store/messages.ts).
// A: prefix, id, n, attempt JSON, kept, state, allowed, updatedAt, nextAt, replayedAs,
// receivedAt, parsed JSON|'', event JSON, maxEvents
export const LOG_ATTEMPT_ENDED_LUA = `${PUBLISH_ACCEPTED}${APPLY_MOVE}${APPENDED}
local function logAttemptEnded(A)
  local prefix, id, n = A[1], A[2], A[3]
  local rec = prefix .. ':log:m:' .. id
  local got = redis.call('HMGET', rec, 'd.' .. n, 'a.' .. n, 'u')
  -- the accepted event, if the accept has not published it yet
  if got[3] then publishAccepted(prefix, rec, id, A[14]) end
  if not got[1] then return end
  local d = cjson.decode(got[1])
  local moved = applyMove(prefix, id, n, rec, d, A[6], A[7], A[8], A[9], A[10], A[11])
  local fields = { 'a.' .. n, appended(got[2], A[4], A[5]) }
  if moved then
    fields[3] = 'd.' .. n
    fields[4] = cjson.encode(d)
  end
  if A[12] ~= '' then
    fields[#fields + 1] = 'p'
    fields[#fields + 1] = A[12]
  end
  redis.call('HSET', rec, unpack(fields))
  if moved then redis.call('XADD', prefix .. ':log:events', 'MAXLEN', '~', A[14], '*', 'c', A[13]) end
end`;

const ATTEMPT_ENDED_SCRIPT = `${LOG_ATTEMPT_ENDED_LUA}
local ok = pcall(logAttemptEnded, ARGV)
return ok and 1 or 0`;

/** The log's scripts, each defined as an ioredis command (run by its SHA) on every connection of ours. */
const LOG_SCRIPTS = {
  mxhookLogAccept: ACCEPT_SCRIPT,
  mxhookLogState: STATE_SCRIPT,
  mxhookLogAttempt: ATTEMPT_SCRIPT,
  mxhookLogAttemptEnded: ATTEMPT_ENDED_SCRIPT,
  mxhookLogConfirm: CONFIRM_SCRIPT,
} as const;
type LogScript = keyof typeof LOG_SCRIPTS;

/**
 * Defines the log's scripts on `redis` (store/redis.ts does, for every connection it makes): they
 * then go out as EVALSHA, not as their whole text per write. Must run before the connection's
 * first pipeline: a pipeline takes the commands its connection has when it is made.
 */
export function defineMessageLogCommands(redis: Redis): void {
  for (const [name, lua] of Object.entries(LOG_SCRIPTS)) if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
}

/**
 * The one key each log script declares: unused by the script (every key it touches derives from
 * the prefix, its first argument), it routes the call on a Redis Cluster to the node of the
 * prefix's hash tag, the slot all those keys share.
 */
const routingKey = (args: readonly (string | number)[]) => `${String(args[0])}:log:cuts`;

/** Runs a log script on `pipe`: by SHA when its connection has the command, else as EVAL (a connection made elsewhere). */
export function runLogScript(pipe: ChainableCommander | Redis, name: LogScript, args: readonly (string | number)[]): unknown {
  const command = (pipe as unknown as Record<string, ((...a: (string | number)[]) => unknown) | undefined>)[name];
  if (typeof command === 'function') return command.apply(pipe, [routingKey(args), ...args]);
  return pipe.eval(LOG_SCRIPTS[name], 1, routingKey(args), ...args);
}

